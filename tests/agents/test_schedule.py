"""Interval and cron schedules: when time sensors fire, and how each firing is named."""

from datetime import UTC, datetime

import pytest

from scanflow.agents.schedule import Cron, CronError, Interval


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_interval_slots_are_aligned_so_a_restart_does_not_refire_the_same_slot():
    iv = Interval(60)
    assert iv.slot(120.0) == iv.slot(179.9) == "2"
    assert iv.slot(180.0) == "3"
    assert iv.next_time(150.0) == 180.0


def test_interval_must_be_positive():
    with pytest.raises(ValueError, match="positive number of seconds"):
        Interval(0)


@pytest.mark.parametrize("expr, after, expected", [
    ("*/15 * * * *", at(2024, 1, 1, 10, 7), at(2024, 1, 1, 10, 15)),
    ("0 9-17/4 * * *", at(2024, 1, 1, 13, 0), at(2024, 1, 1, 17, 0)),
    ("30 2 * * *", at(2024, 1, 1, 3, 0), at(2024, 1, 2, 2, 30)),
    ("0 0 1 jan *", at(2024, 3, 1), at(2025, 1, 1)),
    ("0 12 * * sun", at(2024, 1, 1), at(2024, 1, 7, 12, 0)),   # 2024-01-01 is a Monday
    ("0 12 * * 7", at(2024, 1, 1), at(2024, 1, 7, 12, 0)),     # 7 is Sunday too
    ("@daily", at(2024, 2, 28, 5), at(2024, 2, 29)),
])
def test_cron_next_firing(expr, after, expected):
    assert Cron(expr).next_after(after) == expected


def test_cron_day_of_month_or_day_of_week_when_both_are_restricted():
    # Vixie cron: the 13th OR any Friday.
    cron = Cron("0 0 13 * fri")
    assert cron.next_after(at(2024, 1, 1)) == at(2024, 1, 5)     # a Friday
    assert cron.next_after(at(2024, 1, 12, 1)) == at(2024, 1, 13)


def test_cron_slot_is_the_latest_firing_at_or_before_now():
    cron = Cron("*/5 * * * *")
    assert cron.slot(at(2024, 1, 1, 10, 7, 30).timestamp()) == "2024-01-01T10:05"
    assert cron.slot(at(2024, 1, 1, 10, 10).timestamp()) == "2024-01-01T10:10"
    assert Cron("0 0 1 1 *").slot(at(2024, 6, 1).timestamp()) == "2024-01-01T00:00"


@pytest.mark.parametrize("expr, message", [
    ("* * * *", "wrong number of fields; write five"),
    ("61 * * * *", "bad minute"),
    ("* * * foo *", "bad month"),
    ("*/0 * * * *", "bad minute"),
    ("0 0 30 2 *", "bad day-of-month"),   # February 30th never comes
])
def test_bad_cron_expressions_say_which_field_and_how_to_fix(expr, message):
    with pytest.raises(CronError, match=message):
        Cron(expr).next_after(at(2024, 1, 1))


def test_cron_reads_times_in_its_time_zone():
    madrid = Cron("30 9 * * *", timezone="Europe/Madrid")
    assert madrid.next_after(at(2024, 1, 10, 12)) == at(2024, 1, 11, 8, 30)    # CET = UTC+1
    assert madrid.next_after(at(2024, 7, 10, 12)) == at(2024, 7, 11, 7, 30)    # CEST = UTC+2
    assert madrid.describe() == "cron '30 9 * * *' (Europe/Madrid)"


def test_cron_fires_once_on_the_days_dst_skips_or_repeats_the_hour():
    berlin = Cron("30 2 * * *", timezone="Europe/Berlin")
    # 2024-03-31: 02:00 -> 03:00, 02:30 does not exist; fires at 03:00 local (01:00 UTC), once
    assert berlin.next_after(at(2024, 3, 30, 12)) == at(2024, 3, 31, 1, 0)
    assert berlin.next_after(at(2024, 3, 31, 1, 0)) == at(2024, 4, 1, 0, 30)
    # 2024-10-27: 03:00 -> 02:00, 02:30 happens twice; fires at the first one only
    assert berlin.next_after(at(2024, 10, 26, 12)) == at(2024, 10, 27, 0, 30)
    assert berlin.next_after(at(2024, 10, 27, 0, 30)) == at(2024, 10, 28, 1, 30)


def test_unknown_time_zone_names_the_fix():
    with pytest.raises(CronError, match="time zone 'Mars/Olympus' is unknown"):
        Cron("0 * * * *", timezone="Mars/Olympus")

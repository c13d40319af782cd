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
    ("* * * *", "has 4 fields: write five"),
    ("61 * * * *", "minute 61 is out of range 0-59"),
    ("* * * foo *", "month field has 'foo'"),
    ("*/0 * * * *", "minute step '0' must be a positive integer"),
    ("0 0 30 2 *", "never fires"),
])
def test_bad_cron_expressions_say_which_field_and_how_to_fix(expr, message):
    with pytest.raises(CronError, match=message):
        Cron(expr).next_after(at(2024, 1, 1))

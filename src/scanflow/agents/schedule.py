"""When time-based sensors fire: fixed intervals and five-field cron expressions (cronsim), in a
time zone of your choice.

Both schedules name each firing by a *slot*, a string that is the same for every process that
computes it at the same time. The runtime stores the last slot a sensor fired in the state
database together with the event it produced, so a restarted agent neither repeats a firing nor
replays every firing it missed (it catches up once, like a cron daemon coming back up).

>>> Interval(60).slot(3600.0)
'60'
>>> cron = Cron("*/15 9-17 * * mon-fri")
>>> from datetime import datetime, timezone
>>> cron.next_after(datetime(2024, 1, 5, 17, 50, tzinfo=timezone.utc)).isoformat()
'2024-01-08T09:00:00+00:00'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from scanflow.errors import ScanflowError

__all__ = ["Cron", "CronError", "Interval"]


@dataclass(frozen=True)
class Interval:
    """Fire every ``seconds`` seconds, on multiples of ``seconds`` since the epoch."""

    seconds: float

    def __post_init__(self) -> None:
        if not self.seconds or self.seconds <= 0:
            raise ValueError(f"interval must be a positive number of seconds, got {self.seconds!r}")

    def slot(self, now: float) -> str:
        return str(int(math.floor(now / self.seconds)))

    def next_time(self, now: float) -> float:
        return (math.floor(now / self.seconds) + 1) * self.seconds

    def describe(self) -> str:
        return f"every {self.seconds:g}s"


class CronError(ScanflowError, ValueError):
    """A cron expression or time zone that cannot be used; the message names the part and the fix."""


_ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_HOW = "write five fields (minute hour day-of-month month day-of-week), e.g. '*/5 * * * *'"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"time zone {name!r} is unknown: use an IANA name such as "
                        "'UTC' or 'Europe/Madrid'") from None


class Cron:
    """A standard five-field cron schedule (minute hour day-of-month month day-of-week).

    Parsing and stepping are cronsim's (lists, ranges, steps, month and day names, ``L``, ``#``;
    when both day fields are restricted a day matches if either matches, as in Vixie cron), plus
    the ``@hourly``/``@daily``/``@weekly``/``@monthly``/``@yearly`` aliases. Times are read in
    ``timezone`` (UTC by default): ``"30 2 * * *"`` in ``Europe/Madrid`` fires at 02:30 local
    time, once on the days a DST change skips or repeats that hour.
    """

    def __init__(self, expression: str, timezone: str = "UTC"):
        self.expression = expression
        self.timezone = timezone
        self._zone = _zone(timezone)
        self._text = _ALIASES.get(expression.strip().lower(), expression)
        self._iter(datetime(2000, 1, 1, tzinfo=self._zone))  # a bad expression fails here

    def _iter(self, start: datetime, reverse: bool = False) -> CronSim:
        try:
            return CronSim(self._text, start.astimezone(self._zone), reverse=reverse)
        except CronSimError as exc:
            raise CronError(f"cron {self.expression!r}: {str(exc).lower()}; {_HOW}") from None

    def next_after(self, dt: datetime) -> datetime:
        """The first firing time strictly after ``dt`` (naive datetimes are taken as UTC)."""
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        try:
            return next(self._iter(dt)).astimezone(dt.tzinfo)
        except StopIteration:
            raise CronError(f"cron {self.expression!r} never fires") from None

    def last_at_or_before(self, now: float) -> float | None:
        """The latest firing time at or before ``now`` within the last 366 days, if any."""
        end = datetime.fromtimestamp(now, UTC).replace(second=0, microsecond=0)
        last = next(self._iter(end + timedelta(minutes=1), reverse=True), None)
        if last is None or last < end - timedelta(days=366):
            return None
        return last.timestamp()

    def slot(self, now: float) -> str | None:
        last = self.last_at_or_before(now)
        return None if last is None else datetime.fromtimestamp(last, UTC).strftime("%Y-%m-%dT%H:%M")

    def next_time(self, now: float) -> float:
        return self.next_after(datetime.fromtimestamp(now, UTC)).timestamp()

    def describe(self) -> str:
        return f"cron {self.expression!r} ({self.timezone})"

    def __repr__(self) -> str:
        return f"Cron({self.expression!r}, timezone={self.timezone!r})"

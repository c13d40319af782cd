"""When time-based sensors fire: fixed intervals and five-field cron expressions.

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
    """A cron expression that cannot be parsed; the message names the field and the fix."""


_FIELDS = (  # name, low, high
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 6),
)
_MONTHS = {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
_DAYS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}
_ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


def _value(text: str, index: int, expr: str) -> int:
    name, low, high = _FIELDS[index]
    names = _MONTHS if index == 3 else _DAYS if index == 4 else {}
    key = text.lower()
    if key in names:
        return names[key]
    try:
        value = int(text)
    except ValueError:
        raise CronError(
            f"cron {expr!r}: {name} field has {text!r}: use a number {low}-{high}"
            + (f" or a name ({', '.join(names)})" if names else "")
        ) from None
    if index == 4 and value == 7:  # both 0 and 7 mean Sunday
        value = 0
    if not low <= value <= high:
        raise CronError(f"cron {expr!r}: {name} {value} is out of range {low}-{high}")
    return value


def _parse_field(text: str, index: int, expr: str) -> frozenset[int]:
    name, low, high = _FIELDS[index]
    values: set[int] = set()
    for part in text.split(","):
        rng, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"cron {expr!r}: {name} step {step_text!r} must be a positive integer")
            step = int(step_text)
        if rng == "*":
            start, stop = low, high
        elif "-" in rng:
            a, _, b = rng.partition("-")
            start, stop = _value(a, index, expr), _value(b, index, expr)
            if stop < start:
                raise CronError(f"cron {expr!r}: {name} range {rng!r} runs backwards")
        else:
            start = _value(rng, index, expr)
            stop = high if step_text else start
        values.update(range(start, stop + 1, step))
    return frozenset(values)


class Cron:
    """A standard five-field cron schedule (minute hour day-of-month month day-of-week), in UTC.

    Supports ``*``, lists ``1,5``, ranges ``1-5``, steps ``*/10`` and ``8-18/2``, month and day
    names, and the ``@hourly``/``@daily``/``@weekly``/``@monthly``/``@yearly`` aliases. As in
    Vixie cron, when both day fields are restricted a day matches if either matches.
    """

    def __init__(self, expression: str):
        self.expression = expression
        text = _ALIASES.get(expression.strip().lower(), expression)
        parts = text.split()
        if len(parts) != 5:
            raise CronError(
                f"cron {expression!r} has {len(parts)} fields: write five "
                "(minute hour day-of-month month day-of-week), e.g. '*/5 * * * *'"
            )
        fields = [_parse_field(p, i, expression) for i, p in enumerate(parts)]
        self.minutes, self.hours, self.days, self.months, self.weekdays = fields
        self._dom_any = parts[2] == "*"
        self._dow_any = parts[4] == "*"

    def _day_ok(self, dt: datetime) -> bool:
        dom = dt.day in self.days
        dow = (dt.weekday() + 1) % 7 in self.weekdays  # python: Monday=0; cron: Sunday=0
        if self._dom_any or self._dow_any:
            return dom and dow
        return dom or dow

    def next_after(self, dt: datetime) -> datetime:
        """The first firing time strictly after ``dt`` (naive datetimes are taken as UTC)."""
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        t = dt.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t + timedelta(days=366 * 5)
        while t < limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_ok(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        raise CronError(f"cron {self.expression!r} never fires (e.g. February 30th)")

    def last_at_or_before(self, now: float) -> float | None:
        """The latest firing time at or before ``now`` within the last 366 days, if any."""
        end = datetime.fromtimestamp(now, UTC).replace(second=0, microsecond=0)
        # Look back over growing windows, then walk forward inside the first one holding a firing
        # (so a minutely cron takes at most 60 steps, not a day's worth).
        for window in (timedelta(hours=1), timedelta(days=1), timedelta(days=31), timedelta(days=366)):
            t = self.next_after(end - window - timedelta(minutes=1))
            if t <= end:
                while True:
                    nxt = self.next_after(t)
                    if nxt > end:
                        return t.timestamp()
                    t = nxt
        return None

    def slot(self, now: float) -> str | None:
        last = self.last_at_or_before(now)
        return None if last is None else datetime.fromtimestamp(last, UTC).strftime("%Y-%m-%dT%H:%M")

    def next_time(self, now: float) -> float:
        return self.next_after(datetime.fromtimestamp(now, UTC)).timestamp()

    def describe(self) -> str:
        return f"cron {self.expression!r} (UTC)"

    def __repr__(self) -> str:
        return f"Cron({self.expression!r})"

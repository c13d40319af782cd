"""Sensors: what an agent watches. Each poll turns "something new happened" into one event.

A sensor is polled by the runtime and answers with an :class:`Observation` (or ``None``): the
new cursor, a token naming the event, and a JSON payload. The runtime stores the event as a
message to the agent in the same commit that stores the new cursor, so events are neither lost
nor repeated across crashes (see :mod:`scanflow.agents.store`).

Time sensors: :class:`IntervalSensor` (every N seconds), :class:`CronSensor` (five-field cron).
Event sensors: :class:`PredictionsSensor` (N new predictions logged by the serving layer),
:class:`RunsSensor` (new finished MLflow runs in an experiment), :class:`LabelsSensor`
(a labeling batch finished, or N new labels).

>>> s = sensor_from_config({"name": "hourly", "type": "cron", "cron": "0 * * * *"})
>>> s.describe()
"cron '0 * * * *' (UTC)"
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .schedule import Cron, Interval

if TYPE_CHECKING:
    from .context import AgentContext

__all__ = [
    "CronSensor",
    "IntervalSensor",
    "LabelsSensor",
    "Observation",
    "PredictionsSensor",
    "RunsSensor",
    "Sensor",
    "sensor_from_config",
]


@dataclass
class Observation:
    """One event: ``cursor`` is stored for the next poll, ``token`` names the event uniquely."""

    cursor: Any
    token: str
    payload: dict[str, Any] = field(default_factory=dict)


class Sensor(ABC):
    """Base class. ``poll_every`` is how often event sensors look (seconds)."""

    type: str = "sensor"

    def __init__(self, name: str, *, poll_every: float = 1.0):
        self.name = name
        self.poll_every = float(poll_every)

    @property
    def kind(self) -> str:
        """The message kind of this sensor's events."""
        return f"sensor.{self.name}"

    def next_due(self, now: float, last_poll: float | None) -> float:
        return now if last_poll is None else last_poll + self.poll_every

    @abstractmethod
    def poll(self, ctx: AgentContext, cursor: Any, now: float, force: bool) -> Observation | None:
        """Implemented by every subclass."""

    def describe(self) -> str:
        return f"polled every {self.poll_every:g}s"

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "schedule": self.describe()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.describe()})"


class _TimeSensor(Sensor):
    schedule: Interval | Cron

    def next_due(self, now: float, last_poll: float | None) -> float:
        return now if last_poll is None else self.schedule.next_time(last_poll)

    def poll(self, ctx, cursor, now, force):
        slot = self.schedule.slot(now)
        if slot is None or (slot == cursor and not force):
            return None
        return Observation(cursor=slot, token=slot, payload={"slot": slot})

    def describe(self) -> str:
        return self.schedule.describe()


class IntervalSensor(_TimeSensor):
    """Fires once per ``every`` seconds (on multiples of it since the epoch)."""

    type = "interval"

    def __init__(self, name: str, every: float):
        super().__init__(name, poll_every=every)
        self.schedule = Interval(float(every))


class CronSensor(_TimeSensor):
    """Fires at the times of a cron expression (in ``timezone``, UTC by default); a restart
    catches up once, not per miss."""

    type = "cron"

    def __init__(self, name: str, cron: str, timezone: str = "UTC"):
        super().__init__(name, poll_every=60)
        self.schedule = Cron(cron, timezone=timezone)


class PredictionsSensor(Sensor):
    """Fires for every ``count`` new predictions in the prediction log, as fixed-size batches.

    Batches are ids ``cursor+1 .. cursor+count`` so that they do not depend on when the sensor
    looked. A manual trigger fires with whatever is new (even nothing).
    """

    type = "predictions"

    def __init__(self, name: str = "predictions", *, count: int = 100, poll_every: float = 1.0,
                 service: str | None = None):
        super().__init__(name, poll_every=poll_every)
        if int(count) < 1:
            raise ValueError(f"sensor {name!r}: count must be >= 1, got {count!r}")
        self.count = int(count)
        self.service = service

    def poll(self, ctx, cursor, now, force):
        cursor = int(cursor or 0)
        rows = ctx.services.predictions.predictions_since(cursor, limit=self.count, service=self.service)
        if len(rows) < self.count and not force:
            return None
        if not rows:
            return Observation(cursor=cursor, token=f"{cursor}-empty",
                               payload={"first_id": cursor + 1, "last_id": cursor, "count": 0})
        first, last = rows[0].id, rows[-1].id
        return Observation(cursor=last, token=str(last),
                           payload={"first_id": first, "last_id": last, "count": len(rows)})

    def describe(self) -> str:
        where = f" of service {self.service!r}" if self.service else ""
        return f"every {self.count} new predictions{where} (polled every {self.poll_every:g}s)"


class RunsSensor(Sensor):
    """Fires when runs of ``experiment`` finish (a new MLflow run appears).

    ``ctx.services.runs.finished_runs(experiment, after_ms)`` gives the finished runs with
    ``end_time > after_ms`` as dicts with at least ``run_id`` and ``end_time`` (ms), oldest first.
    """

    type = "runs"

    def __init__(self, name: str, experiment: str, *, poll_every: float = 10.0, max_runs: int = 50):
        super().__init__(name, poll_every=poll_every)
        self.experiment = experiment
        self.max_runs = max_runs

    def poll(self, ctx, cursor, now, force):
        after = float((cursor or {}).get("end_time", 0))
        seen = list((cursor or {}).get("ids", []))  # the runs handed out that ended at `after`
        # from 1 ms before the cursor: runs ending in the same millisecond as the last one handed
        # out, but left for the next event by max_runs, are not lost
        runs = [r for r in ctx.services.runs.finished_runs(self.experiment, after - 1)
                if r["run_id"] not in seen and float(r["end_time"]) >= after][: self.max_runs]
        if not runs and not force:
            return None
        if not runs:
            return Observation(cursor=cursor or {}, token=f"{after:.0f}-empty",
                               payload={"experiment": self.experiment, "runs": []})
        end = max(float(r["end_time"]) for r in runs)
        ids = (seen if end == after else []) + [r["run_id"] for r in runs if float(r["end_time"]) == end]
        return Observation(cursor={"end_time": end, "ids": ids}, token=f"{end:.0f}-{runs[-1]['run_id']}",
                           payload={"experiment": self.experiment, "runs": runs})

    def describe(self) -> str:
        return f"new finished runs in experiment {self.experiment!r} (polled every {self.poll_every:g}s)"


class LabelsSensor(Sensor):
    """Fires when a labeling batch is finished, or when ``min_labels`` new labels arrived.

    It reads ``ctx.services.labels``: ``progress()["labeled"]`` (the total) and
    ``batch_progress()`` (``name -> {"total", "labeled", "skipped"}``); a batch counts as
    finished when nothing in it is pending.
    """

    type = "labels"

    def __init__(self, name: str = "labels", *, min_labels: int = 10, poll_every: float = 2.0):
        super().__init__(name, poll_every=poll_every)
        self.min_labels = int(min_labels)

    def poll(self, ctx, cursor, now, force):
        labels = ctx.services.labels
        progress = {**labels.progress(), "batches": labels.batch_progress()}
        cursor = cursor or {"labeled": 0, "done": []}
        labeled = int(progress.get("labeled", 0))
        done = set(cursor.get("done", []))
        finished = sorted(
            name for name, b in (progress.get("batches") or {}).items()
            if name not in done and b.get("total", 0) > 0
            and b.get("labeled", 0) + b.get("skipped", 0) >= b["total"])
        finished = finished[:1]  # one event per finished batch, whatever the timing of polls
        new = labeled - int(cursor.get("labeled", 0))
        if not finished and new < self.min_labels and not force:
            return None
        batch = finished[0] if finished else None
        new_cursor = {"labeled": labeled, "done": sorted(done | set(finished))}
        token = f"{labeled}-{'+'.join(finished) or 'count'}" + ("-forced" if force and new <= 0 else "")
        return Observation(cursor=new_cursor, token=token,
                           payload={"batch": batch, "finished": finished, "n_labeled": max(new, 0),
                                    "total_labeled": labeled})

    def describe(self) -> str:
        return (f"a finished labeling batch or {self.min_labels} new labels "
                f"(polled every {self.poll_every:g}s)")


def sensor_from_config(conf: dict[str, Any]) -> Sensor:
    """Build a sensor from an ``Agent.sensors`` entry of the application file.

    Keys: ``name``, ``type`` (interval | cron | predictions | runs | labels) and the type's
    settings: ``every`` (seconds), ``cron`` and ``timezone``, ``count``, ``experiment``, ``min_labels``,
    ``poll_every``, ``service``.
    """
    conf = dict(conf)
    kind = conf.pop("type", None) or ("cron" if "cron" in conf else "interval" if "every" in conf else None)
    name = conf.pop("name", None) or kind
    try:
        if kind == "interval":
            return IntervalSensor(name, every=float(conf["every"]))
        if kind == "cron":
            return CronSensor(name, cron=str(conf["cron"]), **_pick(conf, "timezone"))
        if kind == "predictions":
            return PredictionsSensor(name, **_pick(conf, "count", "poll_every", "service"))
        if kind == "runs":
            return RunsSensor(name, experiment=str(conf["experiment"]),
                              **_pick(conf, "poll_every", "max_runs"))
        if kind == "labels":
            return LabelsSensor(name, **_pick(conf, "min_labels", "poll_every"))
    except KeyError as exc:
        raise ValueError(f"sensor {name!r} of type {kind!r} needs the setting {exc.args[0]!r}") from None
    raise ValueError(
        f"sensor {name!r}: unknown type {kind!r}; use one of interval, cron, predictions, runs, labels"
    )


def _pick(conf: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: conf[k] for k in keys if k in conf}

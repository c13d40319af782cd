"""Each sensor type on its own: when it fires, the cursor it keeps, what a forced poll (a manual
trigger) does, and how it describes itself. Polled directly, against the real state store and
label store; no runtime (tests/agents/test_runtime.py covers how the runtime stores events)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from scanflow.agents import StateStore
from scanflow.agents.context import AgentContext
from scanflow.agents.ingest import InboxSensor
from scanflow.agents.sensors import (
    CronSensor,
    IntervalSensor,
    LabelsSensor,
    PredictionsSensor,
    RunsSensor,
    sensor_from_config,
)
from scanflow.agents.services import AgentServices
from scanflow.improve.labels import LabelStore


class Runs:
    """A runs source as MLflow answers: finished runs with ``end_time > after_ms``, oldest first."""

    def __init__(self):
        self.runs: list[dict] = []

    def add(self, run_id: str, end_time: float) -> None:
        self.runs.append({"run_id": run_id, "end_time": end_time})

    def finished_runs(self, experiment: str, after_ms: float) -> list[dict]:
        return sorted((r for r in self.runs if r["end_time"] > after_ms), key=lambda r: r["end_time"])


@pytest.fixture
def ctx(tmp_path):
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    services = AgentServices.for_app(None, store, labels=LabelStore(tmp_path / "labels.db"), runs=Runs())
    return AgentContext(name="watcher", kind="custom", store=store, config={}, services=services)


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# -- interval -----------------------------------------------------------------------------------

def test_an_interval_sensor_fires_once_per_slot(ctx):
    s = IntervalSensor("tick", every=60)
    first = s.poll(ctx, None, 3600.0, False)
    assert (first.cursor, first.token, first.payload) == ("60", "60", {"slot": "60"})
    assert s.poll(ctx, first.cursor, 3659.0, False) is None  # same slot: already fired
    assert s.poll(ctx, first.cursor, 3660.0, False).token == "61"


def test_a_forced_interval_sensor_fires_again_in_its_slot(ctx):
    s = IntervalSensor("tick", every=60)
    assert s.poll(ctx, "60", 3630.0, True).token == "60"


def test_an_interval_sensor_is_due_at_the_next_multiple_of_its_interval():
    s = IntervalSensor("tick", every=60)
    assert s.next_due(3650.0, None) == 3650.0  # never polled: due now
    assert s.next_due(3650.0, 3610.0) == 3660.0
    assert s.describe() == "every 60s" and s.info()["type"] == "interval"


# -- cron ---------------------------------------------------------------------------------------

def test_a_cron_sensor_fires_for_the_latest_firing_time(ctx):
    s = CronSensor("hourly", cron="0 * * * *")
    obs = s.poll(ctx, None, at("2024-01-05T10:30"), False)
    assert (obs.cursor, obs.token) == ("2024-01-05T10:00", "2024-01-05T10:00")
    assert s.poll(ctx, obs.cursor, at("2024-01-05T10:59"), False) is None
    assert s.poll(ctx, obs.cursor, at("2024-01-05T11:00"), False).token == "2024-01-05T11:00"


def test_a_restarted_cron_sensor_catches_up_once_not_once_per_missed_firing(ctx):
    s = CronSensor("hourly", cron="0 * * * *")
    obs = s.poll(ctx, "2024-01-05T06:00", at("2024-01-05T10:30"), False)  # down for four hours
    assert obs.token == "2024-01-05T10:00"
    assert s.poll(ctx, obs.cursor, at("2024-01-05T10:31"), False) is None


def test_a_forced_cron_sensor_fires_again_for_its_last_firing(ctx):
    s = CronSensor("hourly", cron="@hourly")
    assert s.poll(ctx, "2024-01-05T10:00", at("2024-01-05T10:30"), True).token == "2024-01-05T10:00"
    assert s.describe() == "cron '@hourly' (UTC)"
    assert s.next_due(at("2024-01-05T10:30"), at("2024-01-05T10:30")) == at("2024-01-05T11:00")


# -- predictions --------------------------------------------------------------------------------

def _predict(ctx, n: int, service: str = "api") -> None:
    ctx.store.record_predictions(service, np.zeros((n, 3)), [0] * n)


def test_a_predictions_sensor_fires_for_every_count_new_predictions_in_fixed_batches(ctx):
    s = PredictionsSensor("batches", count=3)
    _predict(ctx, 7)
    first = s.poll(ctx, None, 0.0, False)
    assert first.payload == {"first_id": 1, "last_id": 3, "count": 3} and first.cursor == 3
    second = s.poll(ctx, first.cursor, 0.0, False)
    assert (second.payload["first_id"], second.payload["last_id"], second.token) == (4, 6, "6")
    assert s.poll(ctx, second.cursor, 0.0, False) is None  # one left: not a batch yet


def test_a_forced_predictions_sensor_fires_with_what_is_new_even_nothing(ctx):
    s = PredictionsSensor("batches", count=3)
    _predict(ctx, 2)
    some = s.poll(ctx, 0, 0.0, True)
    assert some.payload == {"first_id": 1, "last_id": 2, "count": 2} and some.cursor == 2
    none = s.poll(ctx, 2, 0.0, True)
    assert (none.cursor, none.token, none.payload["count"]) == (2, "2-empty", 0)


def test_a_predictions_sensor_watches_one_service_when_told(ctx):
    s = PredictionsSensor("api-only", count=2, service="api")
    _predict(ctx, 2, service="batch")
    assert s.poll(ctx, 0, 0.0, False) is None
    _predict(ctx, 2, service="api")
    assert s.poll(ctx, 0, 0.0, False).payload == {"first_id": 3, "last_id": 4, "count": 2}
    assert s.describe() == "every 2 new predictions of service 'api' (polled every 1s)"


def test_a_predictions_sensor_needs_a_positive_count():
    with pytest.raises(ValueError, match="sensor 'p': count must be >= 1, got 0"):
        PredictionsSensor("p", count=0)


# -- runs ---------------------------------------------------------------------------------------

def test_a_runs_sensor_fires_for_runs_that_finished_since_its_cursor(ctx):
    s = RunsSensor("runs", experiment="training")
    runs = ctx.services.runs
    runs.add("a", 1000.0)
    runs.add("b", 2000.0)
    first = s.poll(ctx, None, 0.0, False)
    assert [r["run_id"] for r in first.payload["runs"]] == ["a", "b"]
    assert first.cursor == {"end_time": 2000.0, "ids": ["b"]} and first.token == "2000-b"
    assert s.poll(ctx, first.cursor, 0.0, False) is None
    runs.add("c", 3000.0)
    assert [r["run_id"] for r in s.poll(ctx, first.cursor, 0.0, False).payload["runs"]] == ["c"]


def test_a_runs_sensor_hands_a_backlog_out_max_runs_at_a_time(ctx):
    s = RunsSensor("runs", experiment="training", max_runs=2)
    for i, name in enumerate("abc"):
        ctx.services.runs.add(name, 1000.0 * (i + 1))
    first = s.poll(ctx, None, 0.0, False)
    assert [r["run_id"] for r in first.payload["runs"]] == ["a", "b"]
    assert [r["run_id"] for r in s.poll(ctx, first.cursor, 0.0, False).payload["runs"]] == ["c"]


def test_runs_ending_in_the_same_millisecond_are_not_lost_across_events(ctx):
    s = RunsSensor("runs", experiment="training", max_runs=2)
    for name in "abc":
        ctx.services.runs.add(name, 1000.0)
    ctx.services.runs.add("d", 2000.0)
    handed, cursor = [], None
    while (obs := s.poll(ctx, cursor, 0.0, False)) is not None:
        handed.append([r["run_id"] for r in obs.payload["runs"]])
        cursor = obs.cursor
    assert handed == [["a", "b"], ["c", "d"]]


def test_a_forced_runs_sensor_fires_with_no_run(ctx):
    s = RunsSensor("runs", experiment="training")
    obs = s.poll(ctx, {"end_time": 5000.0, "ids": ["x"]}, 0.0, True)
    assert obs.payload == {"experiment": "training", "runs": []} and obs.token == "5000-empty"
    assert obs.cursor == {"end_time": 5000.0, "ids": ["x"]}
    assert s.describe() == "new finished runs in experiment 'training' (polled every 10s)"


# -- labels -------------------------------------------------------------------------------------

def _batch(ctx, name: str, n: int) -> list[int]:
    return ctx.services.labels.enqueue(np.zeros((n, 4)), batch=name)


def _answer(ctx, ids, skip: bool = False) -> None:
    labels = ctx.services.labels
    for i in ids:
        if skip:
            labels.skip(i, "ana")
        else:
            labels.submit(i, 1, "ana")


def test_a_labels_sensor_fires_after_min_labels_new_labels(ctx):
    s = LabelsSensor("labels", min_labels=3)
    ids = _batch(ctx, "b1", 5)
    _answer(ctx, ids[:2])
    assert s.poll(ctx, None, 0.0, False) is None
    _answer(ctx, ids[2:3])
    obs = s.poll(ctx, None, 0.0, False)
    assert obs.payload == {"batch": None, "finished": [], "n_labeled": 3, "total_labeled": 3}
    assert obs.cursor == {"labeled": 3, "done": []} and obs.token == "3-count"


def test_a_labels_sensor_fires_once_for_each_finished_batch(ctx):
    s = LabelsSensor("labels", min_labels=100)
    first, second = _batch(ctx, "b1", 2), _batch(ctx, "b2", 2)
    _answer(ctx, first[:1])
    _answer(ctx, first[1:], skip=True)  # skipped counts as answered
    _answer(ctx, second)
    one = s.poll(ctx, None, 0.0, False)
    assert (one.payload["batch"], one.cursor["done"]) == ("b1", ["b1"])
    two = s.poll(ctx, one.cursor, 0.0, False)
    assert (two.payload["batch"], two.cursor["done"]) == ("b2", ["b1", "b2"])
    assert s.poll(ctx, two.cursor, 0.0, False) is None


def test_a_forced_labels_sensor_fires_with_nothing_new(ctx):
    s = LabelsSensor("labels", min_labels=10)
    obs = s.poll(ctx, {"labeled": 0, "done": []}, 0.0, True)
    assert obs.token == "0-count-forced" and obs.payload["n_labeled"] == 0
    assert s.describe() == "a finished labeling batch or 10 new labels (polled every 2s)"


# -- inbox --------------------------------------------------------------------------------------

def test_an_inbox_sensor_fires_once_per_new_file_oldest_first(ctx, tmp_path):
    import os

    folder = tmp_path / "incoming"
    folder.mkdir()
    for i, name in enumerate(["b.csv", "a.csv", ".hidden.csv", "notes.txt"]):
        (folder / name).write_text("x\n1\n")
        os.utime(folder / name, (1000 + i, 1000 + i))
    s = InboxSensor("inbox", folder=str(folder), pattern="*.csv")
    first = s.poll(ctx, None, 0.0, False)
    assert (first.token, first.payload["file"], first.cursor) == ("b.csv", "b.csv", {"files": ["b.csv"]})
    second = s.poll(ctx, first.cursor, 0.0, False)
    assert second.token == "a.csv" and second.cursor == {"files": ["a.csv", "b.csv"]}
    assert s.poll(ctx, second.cursor, 0.0, False) is None  # hidden files and other patterns: never
    assert s.poll(ctx, second.cursor, 0.0, True) is None  # forced: still only a new file fires


def test_an_inbox_sensor_waits_for_its_folder_to_exist(ctx, tmp_path):
    s = InboxSensor("inbox", folder=str(tmp_path / "later"))
    assert s.poll(ctx, None, 0.0, False) is None
    assert s.describe() == f"new files '*' in {tmp_path / 'later'} (polled every 1s)"


# -- from the application file ------------------------------------------------------------------

@pytest.mark.parametrize(("conf", "kind"), [
    ({"type": "interval", "every": 5}, IntervalSensor),
    ({"cron": "*/5 * * * *"}, CronSensor),  # the type follows from the setting
    ({"type": "predictions", "count": 10, "service": "api"}, PredictionsSensor),
    ({"type": "runs", "experiment": "training", "max_runs": 5}, RunsSensor),
    ({"type": "labels", "min_labels": 4}, LabelsSensor),
])
def test_each_sensor_type_is_built_from_its_config(conf, kind):
    s = sensor_from_config({"name": "s", **conf})
    assert isinstance(s, kind) and s.name == "s" and s.kind == "sensor.s"


def test_a_sensor_config_names_the_missing_setting_and_the_known_types():
    with pytest.raises(ValueError, match="sensor 'r' of type 'runs' needs the setting 'experiment'"):
        sensor_from_config({"name": "r", "type": "runs"})
    with pytest.raises(ValueError, match="unknown type 'webhook'; use one of interval, cron"):
        sensor_from_config({"name": "w", "type": "webhook"})

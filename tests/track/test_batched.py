"""Starting a run, and ending many in one transaction, write what the MLflow client would."""

from __future__ import annotations

import pytest

from scanflow.track import batched
from scanflow.track.batched import (
    MAX_TAG_LENGTH,
    RunEnd,
    end_runs,
    insert_run,
    sql_store,
    start_run,
)


def test_runs_end_together_with_their_tags_status_and_end_time(store, monkeypatch):
    client, first = store
    experiment = client.get_run(first).info.experiment_id
    second = client.create_run(experiment, tags={"scanflow.status": "running"}).info.run_id
    monkeypatch.setattr(batched, "end_through_client", _refuse)  # the one-transaction path only
    end_runs(client, [RunEnd(first, "FINISHED", {"scanflow.status": "succeeded"}, end_time=1000.0),
                      RunEnd(second, "FAILED", {"scanflow.status": "failed", "scanflow.error": "x" * 9000},
                             end_time=2000.0)])
    one, two = client.get_run(first), client.get_run(second)
    assert (one.info.status, one.info.end_time, one.data.tags["scanflow.status"]) == ("FINISHED", 1_000_000, "succeeded")
    assert (two.info.status, two.info.end_time, two.data.tags["scanflow.status"]) == ("FAILED", 2_000_000, "failed")
    assert len(two.data.tags["scanflow.error"]) == MAX_TAG_LENGTH  # MLflow refuses tags over 8,000


def test_final_metrics_are_written_in_the_same_transaction_as_the_client_would(store, monkeypatch):
    client, run_id = store
    experiment = client.get_run(run_id).info.experiment_id
    by_client = client.create_run(experiment).info.run_id
    end = RunEnd(run_id, "FINISHED", {"a": "b"}, {"duration_s": 1.5, "nodes_failed": float("nan")}, end_time=5.0)
    end_runs(client, [RunEnd(by_client, **{k: getattr(end, k) for k in ("status", "tags", "metrics", "end_time")})])
    monkeypatch.setattr(batched, "end_through_client", _refuse)
    end_runs(client, [end])
    end_runs(client, [end])  # a replayed end adds no second row
    ours, theirs = client.get_run(run_id), client.get_run(by_client)
    assert ours.info.status == theirs.info.status == "FINISHED"
    assert ours.data.metrics["duration_s"] == theirs.data.metrics["duration_s"] == 1.5
    for key in ("duration_s", "nodes_failed"):
        mine = [(m.value, m.timestamp, m.step) for m in client.get_metric_history(run_id, key)]
        assert len(mine) == 1
        assert str(mine) == str([(m.value, m.timestamp, m.step) for m in client.get_metric_history(by_client, key)])


def test_a_run_started_in_one_transaction_has_what_create_run_and_log_batch_give(store, monkeypatch):
    from mlflow.entities import Param

    client, run_id = store
    experiment = client.get_run(run_id).info.experiment_id
    tags, params = {"scanflow.kind": "node", "mlflow.user": "ada"}, {"lr": "0.1", "args": "--x 1"}
    theirs = client.create_run(experiment, start_time=1234, tags=tags, run_name="train")
    client.log_batch(theirs.info.run_id, params=[Param(k, v) for k, v in params.items()])
    monkeypatch.setattr(client, "create_run", _refuse)
    started = start_run(client, experiment, "train", tags, 1234, params)
    assert started.params_written
    ours, theirs = client.get_run(started.run_id), client.get_run(theirs.info.run_id)
    assert ours.data.tags == theirs.data.tags and ours.data.params == theirs.data.params == params
    assert ours.info.artifact_uri == theirs.info.artifact_uri.replace(theirs.info.run_id, started.run_id)
    for field in ("status", "start_time", "user_id", "run_name", "experiment_id", "lifecycle_stage"):
        assert getattr(ours.info, field) == getattr(theirs.info, field), field


def test_a_run_inserted_with_a_chosen_id_has_it_and_the_id_cannot_be_taken_twice(store):
    from mlflow.exceptions import MlflowException

    client, run_id = store
    experiment = client.get_run(run_id).info.experiment_id
    chosen = "0123456789abcdef0123456789abcdef"  # a journal's run, replayed by the writer
    started = insert_run(sql_store(client), experiment, "train", {"k": "v"}, 1234, run_id=chosen)
    assert started.run_id == chosen and client.get_run(chosen).data.tags["k"] == "v"
    with pytest.raises(MlflowException):
        insert_run(sql_store(client), experiment, "again", {}, 1234, run_id=chosen)
    assert client.get_run(chosen).info.run_name == "train"


def test_a_run_in_a_deleted_experiment_is_refused_by_the_client_as_before(store):
    from mlflow.exceptions import MlflowException

    client, run_id = store
    experiment = client.get_run(run_id).info.experiment_id
    client.delete_experiment(experiment)
    with pytest.raises(MlflowException, match="active"):
        start_run(client, experiment, "train", {}, 1234)


def test_a_param_the_client_refuses_is_left_to_the_client(store):
    client, run_id = store
    experiment = client.get_run(run_id).info.experiment_id
    started = start_run(client, experiment, "train", {}, 1234, {"bad key?": "1"})
    assert not started.params_written  # the caller logs it through the client, which says why
    assert client.get_run(started.run_id).data.params == {}


def _refuse(*_args):
    pytest.fail("ended through the client")

"""Ending many runs in one transaction writes what the MLflow client would."""

from __future__ import annotations

import pytest

from scanflow.track import batched
from scanflow.track.batched import MAX_TAG_LENGTH, RunEnd, end_runs


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


def test_runs_with_metrics_end_through_the_client(store):
    client, run_id = store
    end_runs(client, [RunEnd(run_id, "FINISHED", {"a": "b"}, {"duration_s": 1.5})])
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.metrics == {"duration_s": 1.5}


def _refuse(*_args):
    pytest.fail("ended through the client")

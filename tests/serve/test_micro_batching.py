"""Adaptive micro-batching: concurrent single-input requests answered by one call on a batch.

The unit tests hold the batch function on a gate, so that what queues behind it is known; the
HTTP tests run a real Uvicorn on 127.0.0.1 with concurrent clients. Nothing here times anything.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pandas as pd
import pytest

from scanflow.errors import ScanflowError
from scanflow.serve.batching import MicroBatcher, join_inputs


class GatedDouble:
    """A batch function that doubles its inputs, records each batch and holds the first one
    until ``release`` is set (so that the test can queue requests behind it)."""

    def __init__(self):
        self.batches: list[list[float]] = []
        self.keys: list[object] = []
        self.started, self.release = threading.Event(), threading.Event()

    def __call__(self, X, key):
        self.batches.append(X.ravel().tolist())
        self.keys.append(key)
        self.started.set()
        self.release.wait(30)
        if (X < 0).any():
            raise ValueError("negative input")
        return list(X.ravel() * 2)


def queue_behind_the_first(batcher, fn, values, keys=None):
    """Submit values[0], wait until it runs, queue the rest, then let everything run."""
    keys = keys or ["k"] * len(values)
    futures = [batcher.submit(np.array([values[0]], dtype=float), keys[0])]
    assert fn.started.wait(30)
    futures += [batcher.submit(np.array([v], dtype=float), k) for v, k in zip(values[1:], keys[1:], strict=True)]
    batcher.expected_ = 1.0  # the queued ones join without waiting for more
    fn.release.set()
    return futures


def test_requests_queued_while_a_batch_runs_are_answered_together_each_with_its_own_result():
    fn = GatedDouble()
    batcher = MicroBatcher(fn, max_batch=8)
    futures = queue_behind_the_first(batcher, fn, [1, 2, 3, 4, 5])
    assert [f.result(30) for f in futures] == [[2.0], [4.0], [6.0], [8.0], [10.0]]
    assert fn.batches == [[1.0], [2.0, 3.0, 4.0, 5.0]]
    batcher.stop()


def test_a_batch_never_holds_more_than_max_batch_inputs():
    fn = GatedDouble()
    batcher = MicroBatcher(fn, max_batch=3)
    futures = queue_behind_the_first(batcher, fn, [1, 2, 3, 4, 5, 6, 7, 8])
    assert [f.result(30)[0] for f in futures] == [2.0 * v for v in range(1, 9)]
    assert [len(b) for b in fn.batches] == [1, 3, 3, 1]
    batcher.stop()


def test_inputs_for_different_models_never_share_a_batch():
    fn = GatedDouble()
    batcher = MicroBatcher(fn, max_batch=8)
    futures = queue_behind_the_first(batcher, fn, [1, 2, 3, 4], keys=["v1", "v1", "v2", "v2"])
    assert [f.result(30)[0] for f in futures] == [2.0, 4.0, 6.0, 8.0]
    assert list(zip(fn.keys, fn.batches, strict=True)) == [("v1", [1.0]), ("v1", [2.0]), ("v2", [3.0, 4.0])]
    batcher.stop()


def test_an_input_that_fails_the_batch_fails_only_its_own_request():
    fn = GatedDouble()
    batcher = MicroBatcher(fn, max_batch=8)
    futures = queue_behind_the_first(batcher, fn, [1, 2, -3, 4])
    assert futures[1].result(30) == [4.0] and futures[3].result(30) == [8.0]
    with pytest.raises(ValueError, match="negative input"):
        futures[2].result(30)
    assert fn.batches[1] == [2.0, -3.0, 4.0]  # tried together first, then one by one
    batcher.stop()


def test_the_first_input_waits_for_as_many_as_recent_batches_held():
    """With four clients sending, the first of the next four waits (at most ``max_wait``, long
    here) for the other three, instead of going alone and splitting the batch."""
    fn = GatedDouble()
    fn.release.set()
    batcher = MicroBatcher(fn, max_batch=8, max_wait=30.0)
    batcher.expected_ = 4.0
    futures = []
    for v in (1, 2, 3, 4):
        futures.append(batcher.submit(np.array([v], dtype=float)))
    assert [f.result(30)[0] for f in futures] == [2.0, 4.0, 6.0, 8.0]
    assert fn.batches == [[1.0, 2.0, 3.0, 4.0]]
    batcher.stop()


def test_stop_answers_what_is_queued_and_a_later_call_starts_a_new_worker():
    fn = GatedDouble()
    fn.release.set()
    batcher = MicroBatcher(fn, max_batch=4)
    assert batcher.call(np.array([1.0])) == [2.0]
    batcher.stop()
    assert batcher.call(np.array([2.0])) == [4.0]
    batcher.stop()
    assert batcher.n_batches_ == 2 and batcher.n_inputs_ == 2


def test_settings_out_of_range_are_refused_with_the_fix():
    with pytest.raises(ScanflowError, match="max_batch >= 1"):
        MicroBatcher(lambda X, key: X, max_batch=0)


def test_inputs_join_as_arrays_or_tables():
    assert join_inputs([np.zeros((1, 2)), np.ones((2, 2))]).shape == (3, 2)
    joined = join_inputs([pd.DataFrame({"a": [1.0]}), pd.DataFrame({"a": [2.0]})])
    assert joined["a"].tolist() == [1.0, 2.0] and joined.index.tolist() == [0, 1]
    with pytest.raises(ScanflowError, match="cannot join"):
        join_inputs([np.zeros((1, 2)), [[0.0, 0.0]]])


# -- the prediction API over real HTTP ------------------------------------------------------

def _wine():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"alcohol": rng.normal(13, 1, 200), "hue": rng.normal(0.9, 0.2, 200)})
    y = np.where(X["alcohol"] + 2 * X["hue"] > 14.8, "red", "white")
    return LogisticRegression().fit(X, y), X


def _concurrent_posts(url, bodies):
    with httpx.Client(base_url=url, timeout=60) as http, ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda b: http.post("/predict", json=b), bodies))


def test_concurrent_requests_share_one_forward_pass_and_get_their_own_answers():
    from scanflow.check import PCADetector
    from scanflow.serve.predict import create_prediction_app, serve_model
    from scanflow.serve.server import ServerThread

    clf, X = _wine()
    detector = PCADetector(n_components=1).fit(X)
    service = serve_model(clf, name="wine", detector=detector, micro_batch=16, micro_batch_wait=30.0)
    service.batcher.expected_ = 16.0  # the first request waits (up to 30 s) for the other 15
    rows = X.iloc[:16]
    bodies = [{"record": row._asdict(), "id": f"r{i}", "check": "inline"}
              for i, row in enumerate(rows.itertuples(index=False))]
    with ServerThread(create_prediction_app(service)) as server:
        answers = [r.json() for r in _concurrent_posts(server.url, bodies)]
        health = httpx.get(server.url + "/health").json()
    assert service.batcher.n_batches_ == 1 and service.batcher.n_inputs_ == 16
    assert [a["label"] for a in answers] == clf.predict(rows).tolist()
    assert [a["id"] for a in answers] == [f"r{i}" for i in range(16)]
    assert sorted(a["request_id"] for a in answers) == list(range(16))
    scores = detector.predict(rows).instance_scores  # the same flags as one check per request
    assert [a["outlier"]["score"] for a in answers] == pytest.approx(scores)
    assert health["requests"] == 16 and health["samples"] == 16


def test_a_bad_value_among_concurrent_requests_fails_only_that_request():
    from scanflow.serve.predict import create_prediction_app, serve_model
    from scanflow.serve.server import ServerThread

    clf, X = _wine()
    service = serve_model(clf, name="wine", micro_batch=8, micro_batch_wait=30.0)
    service.batcher.expected_ = 4.0
    bodies = [{"record": {"alcohol": 13.0 + i, "hue": 0.9}} for i in range(4)]
    bodies[2]["record"]["hue"] = None  # a null the model cannot take
    with ServerThread(create_prediction_app(service)) as server:
        responses = _concurrent_posts(server.url, bodies)
    assert [r.status_code for r in responses] == [200, 200, 422, 200]
    assert "could not predict on this input" in str(responses[2].json()["detail"])


def test_without_micro_batching_each_request_is_answered_alone():
    from scanflow.serve.predict import serve_model

    clf, _ = _wine()
    assert serve_model(clf, name="wine", micro_batch=1).batcher is None


def test_the_inline_check_reads_per_sample_scores_without_the_batch_test():
    from scanflow.check import PCADetector
    from scanflow.serve.predict import _outlier_scores

    _, X = _wine()
    detector = PCADetector(n_components=1, tail="two-sided", fpr=0.2).fit(X.iloc[:150])
    batch = X.iloc[150:]
    flags, scores, threshold = _outlier_scores(detector, batch)
    full = detector.predict(batch)
    assert flags.tolist() == full.is_outlier and flags.any() and not flags.all()
    assert scores.tolist() == pytest.approx(full.instance_scores) and threshold == full.instance_threshold

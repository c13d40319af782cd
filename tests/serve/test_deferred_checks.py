"""Checks run right after the answer: every served input is checked once, in order, none lost.

The queue's unit tests hold the check function on a gate, so that what queues behind it is
known; the HTTP tests run a real Uvicorn on 127.0.0.1 with concurrent clients and a detector
that records every row it scores. Nothing here times anything.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pandas as pd
import pytest

from scanflow.check import PCADetector
from scanflow.errors import ScanflowError
from scanflow.serve.checking import CheckQueue


class GatedRecorder:
    """A check function that records its calls and holds the first until ``release`` is set."""

    def __init__(self, fail_on=None):
        self.calls: list[tuple[object, list]] = []
        self.started, self.release = threading.Event(), threading.Event()
        self.fail_on = fail_on

    def __call__(self, key, values):
        self.calls.append((key, list(values)))
        self.started.set()
        self.release.wait(30)
        if self.fail_on in values:
            raise RuntimeError("this check broke")


def test_what_queues_while_a_check_runs_is_checked_in_one_call_in_order_per_key():
    fn = GatedRecorder()
    checks = CheckQueue(fn, max_batch=8)
    checks.put("v1", 1, "a")
    assert fn.started.wait(30)
    for key, value in (("v1", "b"), ("v1", "c"), ("v2", "d"), ("v1", "e")):
        checks.put(key, 1, value)
    fn.release.set()
    assert checks.join(30)
    assert fn.calls == [("v1", ["a"]), ("v1", ["b", "c"]), ("v2", ["d"]), ("v1", ["e"])]
    assert checks.n_checked_ == 5 and checks.pending == 0
    checks.stop()


def test_put_waits_while_max_pending_samples_are_unchecked():
    fn = GatedRecorder()
    checks = CheckQueue(fn, max_pending=2)
    checks.put("k", 2, "first")  # held by the gate: 2 samples pending
    assert fn.started.wait(30)
    put = threading.Thread(target=checks.put, args=("k", 1, "second"))
    put.start()
    put.join(0.2)
    assert put.is_alive() and checks.pending == 2  # waiting, not dropped
    fn.release.set()
    put.join(30)
    assert checks.join(30) and [values for _, values in fn.calls] == [["first"], ["second"]]
    checks.stop()


def test_a_failing_check_is_counted_and_the_checks_after_it_still_run():
    fn = GatedRecorder(fail_on="bad")
    fn.release.set()
    checks = CheckQueue(fn)
    checks.put("k", 1, "bad")
    assert checks.join(30)
    checks.put("k", 1, "good")
    assert checks.join(30)
    assert checks.errors_ == ["this check broke"] and checks.n_checked_ == 2
    checks.stop()


def test_settings_out_of_range_are_refused():
    with pytest.raises(ScanflowError, match="max_pending=0"):
        CheckQueue(lambda key, values: None, max_pending=0)


# -- the prediction API over real HTTP ------------------------------------------------------

class RecordingPCA(PCADetector):
    """A PCA detector that records the rows it scores and counts its batch predictions."""

    def score(self, X):
        self.scored_.extend(X["alcohol"].tolist())
        return super().score(X)

    def predict(self, X):
        self.n_predict_ += 1
        return super().predict(X)


class RecordingLog:
    """A prediction log that keeps what it is given."""

    def __init__(self):
        self.rows: list[tuple[float, float]] = []
        self.lock = threading.Lock()

    def record_predictions(self, service, X, labels, *, outlier_scores=None, **_):
        with self.lock:
            self.rows.extend(zip(X["alcohol"].tolist(), outlier_scores, strict=True))
            return list(range(len(self.rows) - len(X), len(self.rows)))


def _wine(n=200):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"alcohol": rng.normal(13, 1, n), "hue": rng.normal(0.9, 0.2, n)})
    y = np.where(X["alcohol"] + 2 * X["hue"] > 14.8, "red", "white")
    return LogisticRegression().fit(X, y), X


def _service(**kwargs):
    from scanflow.serve.predict import serve_model

    clf, X = _wine()
    detector = RecordingPCA(n_components=1).fit(X)
    detector.scored_, detector.n_predict_ = [], 0
    log = RecordingLog()
    service = serve_model(clf, name="wine", detector=detector, prediction_log=log, drift_window=10,
                          **kwargs)
    return service, detector, log, X


def _post_concurrently(url, bodies, clients=16):
    with httpx.Client(base_url=url, timeout=60) as http, ThreadPoolExecutor(clients) as pool:
        return list(pool.map(lambda b: http.post("/predict", json=b), bodies))


@pytest.mark.parametrize("micro_batch", [32, 1])
def test_every_answered_input_is_checked_logged_and_windowed_exactly_once(micro_batch):
    from scanflow.serve.predict import create_prediction_app
    from scanflow.serve.server import ServerThread

    service, detector, log, X = _service(micro_batch=micro_batch)
    rows = X.iloc[:80].assign(alcohol=10.0 + np.arange(80) / 100)  # each row named by its alcohol
    bodies = [{"record": r._asdict(), **({"check": "inline"} if i % 5 == 0 else {})}
              for i, r in enumerate(rows.itertuples(index=False))]
    with ServerThread(create_prediction_app(service)) as server:
        responses = _post_concurrently(server.url, bodies)
        assert service.wait_for_checks(60)
        service.drift.flush()
        drift = httpx.get(server.url + "/drift").json()
    answers = [r.json() for r in responses]
    assert [a["check"] for a in answers] == ["inline" if i % 5 == 0 else "deferred" for i in range(80)]
    assert all((a["outlier"] is None) == (a["check"] == "deferred") for a in answers)
    sent = sorted(rows["alcohol"])
    assert sorted(detector.scored_) == pytest.approx(sent)  # each input scored once
    assert sorted(alcohol for alcohol, _ in log.rows) == pytest.approx(sent)  # and logged once
    assert all(score is not None for _, score in log.rows)
    assert [(w["start"], w["end"]) for w in drift["windows"]] == [(i, i + 10) for i in range(0, 80, 10)]
    assert drift["unchecked"] == 0 and detector.n_predict_ == 0  # windows decided from the scores


def test_a_deferred_answer_says_so_and_an_inline_one_carries_the_score():
    from fastapi.testclient import TestClient

    from scanflow.serve.predict import create_prediction_app

    service, detector, log, X = _service()
    record = X.iloc[0].to_dict()
    with TestClient(create_prediction_app(service)) as client:
        deferred = client.post("/predict", json={"record": record}).json()
        inline = client.post("/predict", json={"record": record, "check": "inline"}).json()
        refused = client.post("/predict", json={"record": record, "check": "later"})
    assert deferred["check"] == "deferred" and deferred["outlier"] is None
    assert deferred["prediction_id"] is None  # logged after the check, with its score
    assert inline["check"] == "inline"
    assert inline["outlier"]["score"] == pytest.approx(detector.predict(X.iloc[:1]).instance_scores[0])
    assert inline["prediction_id"] is not None
    assert refused.status_code == 422
    assert len(log.rows) == 2  # stop() checked the deferred one


def test_a_service_set_to_inline_checks_before_answering():
    from fastapi.testclient import TestClient

    from scanflow.serve.predict import create_prediction_app

    service, _, _, X = _service(check="inline")
    with TestClient(create_prediction_app(service)) as client:
        body = client.post("/predict", json={"record": X.iloc[0].to_dict()}).json()
    assert body["check"] == "inline" and body["outlier"] is not None


def test_an_unknown_check_setting_is_refused_with_the_choices():
    with pytest.raises(ScanflowError, match="choose 'deferred'"):
        _service(check="sometimes")

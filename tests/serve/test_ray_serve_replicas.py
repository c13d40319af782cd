"""The prediction service as two Ray Serve replicas behind one endpoint (issue 15, part 3).

A scikit-learn pipeline on the wine table is registered in a real MLflow store, with a fitted
PCA detector; :func:`scanflow.serve.ray_serving.serve_replicas` serves it from a local Ray on 127.0.0.1 (no
dashboard) through Ray Serve's proxy. The specification: every replica answers as a single
server does, the drift window counts the requests of all replicas, and a promotion reaches
every replica while requests run, none failing.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import httpx
import pytest
from serve_helpers import application

from scanflow.serve.replica_app import REPLICA_HEADER
from scanflow.serve.server import free_port
from user_models import wine, wine_pipeline

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240)]

WINDOW = 10


@pytest.fixture(scope="module")
def data():
    return wine()


@pytest.fixture(scope="module")
def versions(registry, data):
    """Two versions of ``wine-replicas``; the first is the champion."""
    from scanflow.models import InputSchema, as_model

    X, y = data[0], data[1]
    schema = InputSchema.from_data(X)
    first = registry.log(as_model(wine_pipeline(X, y), schema=schema), "wine-replicas")
    second_model = wine_pipeline(X, y).set_params(logisticregression__C=0.01).fit(X, y)
    second = registry.log(as_model(second_model, schema=schema), "wine-replicas")
    registry.promote("wine-replicas", first)
    return str(first), str(second)


@pytest.fixture(scope="module")
def service(registry, versions, data, tmp_path_factory):
    """Two replicas behind one endpoint on 127.0.0.1; Serve and Ray are shut down afterwards."""
    pytest.importorskip("ray.serve")
    import ray

    from scanflow.check import PCADetector
    from scanflow.serve.ray_serving import serve_replicas
    from scanflow.serve.replica_app import replica_settings

    root = tmp_path_factory.mktemp("replicated-app")
    detector = PCADetector().fit(data[0]).save(root / "detector.npz")
    app = application(root, registry, model="wine-replicas", detector=str(detector), window=WINDOW)
    settings = replica_settings(app, poll_interval=0.5, replica_cpus=0.5)
    if ray.is_initialized():  # another module's Ray: serve on one of our own
        ray.shutdown()
    running = None
    try:
        running = serve_replicas(settings, replicas=2, port=free_port())
        yield running
    finally:
        if running is not None:
            running.shutdown()
        if ray.is_initialized():  # started by a failed serve_replicas: leave nothing behind
            ray.shutdown()


def _send(url: str, records: list[dict], clients: int = 4) -> list[httpx.Response]:
    """POST each record to /predict from ``clients`` threads at once."""
    out: list[httpx.Response] = []
    lock = threading.Lock()

    def work(part):
        with httpx.Client(base_url=url, timeout=60) as http:
            for record in part:
                r = http.post("/predict", json={"record": record})
                with lock:
                    out.append(r)

    threads = [threading.Thread(target=work, args=(records[k::clients],)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_both_replicas_answer_predictions_behind_one_endpoint(service, versions, data):
    records = data[2].iloc[:40].to_dict("records")
    responses = _send(service.url, records)
    assert [r.status_code for r in responses] == [200] * 40
    body = responses[0].json()
    assert body["label"] in (0, 1, 2) and body["model"]["version"] == versions[0]
    assert body["outlier"] is None and body["check"] == "deferred"  # checked after the answer
    inline = httpx.post(service.url + "/predict", json={"record": records[0], "check": "inline"}, timeout=60)
    assert inline.status_code == 200 and inline.json()["outlier"] is not None  # or in the answer, on request
    assert len({r.headers[REPLICA_HEADER] for r in responses}) == 2


def test_a_bad_record_is_the_same_422_as_from_a_single_server(service, data):
    record = data[2].iloc[0].to_dict()
    del record["alcohol"]
    r = httpx.post(service.url + "/predict", json={"record": record}, timeout=60)
    assert r.status_code == 422 and "alcohol" in r.text


def _settled(status: dict) -> bool:
    """Every sample a replica answered has reached the aggregate window."""
    return status["drift_samples"] == sum(r["samples"] for r in status["replicas"].values())


def _quiet_total(service) -> int:
    """The aggregate's count once no answer is missing from it: a replica reports its counts
    with each shipment (every 0.25 s), so a settled status may predate a replica's last
    answers; the count is taken when two settled statuses a second apart agree."""
    last = None
    while True:
        total = service.wait_for(_settled)["drift_samples"]
        if total == last:
            return total
        last = total
        time.sleep(1.0)


def test_the_drift_window_counts_the_requests_of_all_replicas(service, data):
    before = _quiet_total(service)  # what earlier tests sent
    records = data[2].iloc[:30].to_dict("records")
    assert {r.status_code for r in _send(service.url, records)} == {200}
    total = before + 30
    status = service.wait_for(lambda s: _settled(s) and s["drift_samples"] == total)
    per_replica = [r["drift_samples"] for r in status["replicas"].values()]
    assert len(per_replica) == 2 and sum(per_replica) == total and min(per_replica) > 0
    service.flush()
    drift = httpx.get(service.url + "/drift", timeout=60).json()
    assert drift["window"] == WINDOW and len(drift["windows"]) == total // WINDOW
    assert drift["windows"][-1]["end"] == (total // WINDOW) * WINDOW
    shown = httpx.get(service.url + "/replicas", timeout=60).json()
    assert shown["drift_samples"] == total and sum(r["drift_samples"] for r in shown["replicas"]) == total


def test_a_promotion_reaches_every_replica_without_a_failed_request(service, registry, versions, data):
    old, new = versions
    records = data[2].iloc[:8].to_dict("records")
    statuses: list[int] = []
    seen: dict[str, list[str]] = defaultdict(list)  # replica -> versions it answered with, in order
    stop = threading.Event()

    def hammer():
        with httpx.Client(base_url=service.url, timeout=60) as http:
            i = 0
            while not stop.is_set():
                r = http.post("/predict", json={"record": records[i % len(records)]})
                statuses.append(r.status_code)
                if r.status_code == 200:
                    seen[r.headers[REPLICA_HEADER]].append(r.json()["model"]["version"])
                i += 1

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        service.wait_for(lambda s: len(statuses) > 20)
        registry.promote("wine-replicas", new)
        service.wait_for(lambda s: len(s["replicas"]) == 2 and all(
            r["model_version"] == new for r in s["replicas"].values()))
        after = len(statuses)
        service.wait_for(lambda s: len(statuses) > after + 20)
    finally:
        stop.set()
        for t in threads:
            t.join()
        registry.promote("wine-replicas", old)
    assert statuses and set(statuses) == {200}
    assert len(seen) == 2
    for answered in seen.values():  # each replica: the old version, then only the new one
        assert answered[-1] == new
        first_new = answered.index(new)
        assert set(answered[first_new:]) == {new}

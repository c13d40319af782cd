"""One replica of the replicated prediction service, without Ray: the app each replica builds.

Two replica apps share one in-process :class:`DriftAggregate` (what the Ray Serve deployment
holds in a cluster); requests to both feed one drift window. The token rule of a single server
holds: a replica of a service bound off loopback demands the token.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from serve_helpers import application

from scanflow.serve.drift_aggregate import DriftAggregate
from scanflow.serve.replica_app import REPLICA_HEADER, build_replica_app, replica_settings
from user_models import wine, wine_pipeline

WINDOW = 10


@pytest.fixture(scope="module")
def data():
    return wine()


@pytest.fixture(scope="module")
def settings(registry, data, tmp_path_factory):
    from scanflow.check import PCADetector
    from scanflow.models import InputSchema, as_model

    X, y = data[0], data[1]
    version = registry.log(as_model(wine_pipeline(X, y), schema=InputSchema.from_data(X)), "wine-replica")
    registry.promote("wine-replica", version)
    root = tmp_path_factory.mktemp("replica-app")
    detector = PCADetector().fit(X).save(root / "detector.npz")
    app = application(root, registry, model="wine-replica", detector=str(detector), window=WINDOW)
    return replica_settings(app, poll_interval=0)


def _call(aggregate):
    return lambda method, *args: getattr(aggregate, method)(*args)


def test_settings_come_from_the_applications_prediction_service(settings):
    assert settings.model == "wine-replica" and settings.alias == "champion"
    assert settings.window == WINDOW and settings.detector_path.endswith("detector.npz")
    assert settings.state_url.startswith("sqlite:///") and settings.replicas == 1


def test_two_replicas_feed_one_drift_window(settings, data):
    aggregate = DriftAggregate(detector_path=settings.detector_path, window=WINDOW, poll_interval=0)
    records = data[2].iloc[:12].to_dict("records")
    try:
        for name, part in (("a", records[:5]), ("b", records[5:])):
            with TestClient(build_replica_app(settings, _call(aggregate), name)) as client:
                for record in part:
                    r = client.post("/predict", json={"record": record, "check": "inline"})
                    assert r.status_code == 200 and r.headers[REPLICA_HEADER] == name
                    assert r.json()["outlier"] is not None
            # leaving the client stops the replica, which ships what it still holds
        aggregate.flush()
        with TestClient(build_replica_app(settings, _call(aggregate), "c")) as client:
            drift = client.get("/drift").json()
            shown = client.get("/replicas").json()
    finally:
        aggregate.stop()
    assert drift["window"] == WINDOW and [(w["start"], w["end"]) for w in drift["windows"]] == [(0, 10)]
    counts = {r["replica"]: r["drift_samples"] for r in shown["replicas"]}
    assert counts["a"] == 5 and counts["b"] == 7 and shown["drift_samples"] == 12


def test_a_replica_bound_off_loopback_demands_the_token(settings, data):
    from dataclasses import replace

    aggregate = DriftAggregate(window=WINDOW)
    app = build_replica_app(replace(settings, token="s3cret"), _call(aggregate), "a")
    record = data[2].iloc[0].to_dict()
    with TestClient(app) as client:
        refused = client.post("/predict", json={"record": record})
        allowed = client.post("/predict", json={"record": record}, headers={"X-Scanflow-Token": "s3cret"})
    assert refused.status_code == 401 and allowed.status_code == 200


def test_serving_replicas_off_loopback_without_a_token_is_refused_before_ray_starts(settings, monkeypatch):
    from scanflow.security import InsecureBindError
    from scanflow.serve.ray_serving import serve_replicas

    pytest.importorskip("ray.serve")
    monkeypatch.delenv("SCANFLOW_TOKEN", raising=False)
    with pytest.raises(InsecureBindError, match="token"):
        serve_replicas(settings, host="0.0.0.0")


def test_a_reload_asked_of_one_replica_reaches_every_replica(registry, data, settings):
    import time
    from dataclasses import replace

    from scanflow.models import InputSchema, as_model

    X, y = data[0], data[1]
    schema = InputSchema.from_data(X)
    first = registry.log(as_model(wine_pipeline(X, y), schema=schema), "wine-reload")
    registry.promote("wine-reload", first)
    reloading = replace(settings, model="wine-reload")  # poll_interval=0: the replicas never poll
    aggregate = DriftAggregate(window=WINDOW)
    with TestClient(build_replica_app(reloading, _call(aggregate), "a")) as a, \
            TestClient(build_replica_app(reloading, _call(aggregate), "b")) as b:
        assert [c.get("/model").json()["model"]["version"] for c in (a, b)] == [str(first)] * 2
        second = registry.log(as_model(wine_pipeline(X, y).set_params(logisticregression__C=0.01).fit(X, y),
                                       schema=schema), "wine-reload")
        registry.promote("wine-reload", second)
        assert a.post("/model/reload").json() == {"swapped": True, "version": str(second), "error": None}
        deadline = time.monotonic() + 30
        while b.get("/model").json()["model"]["version"] != str(second):  # b was not asked
            assert time.monotonic() < deadline, "replica b never followed the reload asked of a"
            time.sleep(0.1)
    assert aggregate.reloads() == 1

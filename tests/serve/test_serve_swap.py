"""Hot swap of registered models of any flavor while requests run: no request fails.

Three versions of one registered model: two scikit-learn pipelines and a torch MLP, all on the
wine table. The registry alias moves between them while client threads send records over real
HTTP; every request must answer 200.
"""

import threading

import httpx
import pytest
import torch

from scanflow.serve.server import ServerThread
from user_models import TableNet, wine, wine_pipeline

torch.set_num_threads(1)

TRUST = ["user_models:TableNet"]


@pytest.fixture(scope="module")
def data():
    return wine()


@pytest.fixture(scope="module")
def versions(registry, data):
    """``{"sklearn-1": v, "sklearn-2": v, "torch": v}`` of the registered model ``wine-swap``."""
    from scanflow.models import InputSchema, as_model

    X, y = data[0], data[1]
    schema = InputSchema.from_data(X)
    first = wine_pipeline(X, y)
    second = wine_pipeline(X, y).set_params(logisticregression__C=0.01).fit(X, y)
    net = TableNet()
    net.mean.copy_(torch.tensor(X.mean().to_numpy(), dtype=torch.float32))
    net.scale.copy_(torch.tensor(X.std().to_numpy(), dtype=torch.float32))
    out = {
        "sklearn-1": registry.log(as_model(first, schema=schema), "wine-swap"),
        "sklearn-2": registry.log(as_model(second, schema=schema), "wine-swap"),
        "torch": registry.log(as_model(net, schema=schema, classes=[0, 1, 2]), "wine-swap"),
    }
    registry.promote("wine-swap", out["sklearn-1"])
    return out


@pytest.fixture
def service(tracker, versions):
    from scanflow.serve.model_slot import ModelSlot, RegistryModelSource
    from scanflow.serve.predict import PredictionService

    tracker.promote("wine-swap", versions["sklearn-1"])
    source = RegistryModelSource("wine-swap", tracking_uri=tracker.uri, trusted_architectures=TRUST)
    return PredictionService(ModelSlot(source, poll_interval=0))


def _swap_under_load(service, registry, records, order):
    """Promote each version of ``order`` in turn while four clients send batches; returns the
    statuses and the (version, flavor) pairs that answered."""
    from scanflow.serve.predict import create_prediction_app

    statuses, served = [], set()
    stop = threading.Event()

    def hammer(url):
        with httpx.Client(base_url=url, timeout=60) as http:
            while not stop.is_set():
                r = http.post("/predict/batch", json={"records": records})
                statuses.append(r.status_code)
                if r.status_code == 200:
                    served.add(r.json()["model"]["version"])

    with ServerThread(create_prediction_app(service)) as server:
        threads = [threading.Thread(target=hammer, args=(server.url,)) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            for version in order:
                seen = len(statuses)
                while len(statuses) < seen + 3:  # let requests run on each version
                    stop.wait(0.01)
                registry.promote("wine-swap", version)
                assert service.slot.refresh(), service.slot.last_error_
        finally:
            stop.set()
            for t in threads:
                t.join()
    return statuses, served


def test_no_request_fails_while_sklearn_versions_are_swapped(service, tracker, versions, data):
    records = data[2].iloc[:8].to_dict("records")
    order = [versions["sklearn-2"], versions["sklearn-1"], versions["sklearn-2"]]
    statuses, served = _swap_under_load(service, tracker, records, order)
    assert statuses and set(statuses) == {200}
    assert served == {str(versions["sklearn-1"]), str(versions["sklearn-2"])}


def test_swapping_to_another_flavor_and_back_keeps_serving(service, tracker, versions, data):
    records = data[2].iloc[:8].to_dict("records")
    order = [versions["torch"], versions["sklearn-2"], versions["torch"], versions["sklearn-1"]]
    statuses, served = _swap_under_load(service, tracker, records, order)
    assert statuses and set(statuses) == {200}
    assert str(versions["torch"]) in served and len(served) >= 2
    assert [s["to_version"] for s in service.slot.swaps_] == [str(v) for v in [versions["sklearn-1"], *order]]


def test_after_a_flavor_swap_the_model_reports_its_new_flavor(service, tracker, versions, data):
    from fastapi.testclient import TestClient

    from scanflow.serve.predict import create_prediction_app

    with TestClient(create_prediction_app(service)) as client:
        assert client.get("/model").json()["model"]["flavor"] == "sklearn"
        tracker.promote("wine-swap", versions["torch"])
        assert client.post("/model/reload").json()["swapped"] is True
        model = client.get("/model").json()["model"]
        r = client.post("/predict", json={"record": data[2].iloc[0].to_dict()})
    assert model["flavor"] == "scanflow_torch" and model["input"]["kind"] == "table"
    assert r.status_code == 200 and r.json()["label"] in (0, 1, 2)
    assert r.json()["model"]["version"] == str(versions["torch"])

"""Serving a user's own torch CNN for 3-channel 32x32 images (channels last), from the registry.

``ColorNet`` lives in the user's module (tests/user_models.py), so loading it needs the user's
say-so: the trust setting ``trusted_architectures``.
"""

import base64

import numpy as np
import pytest
import torch
from serve_helpers import http

from user_models import ColorNet, color_shapes, train_color_net

torch.set_num_threads(1)

TRUST = ["user_models:ColorNet"]


@pytest.fixture(scope="module")
def images():
    X, y = color_shapes(96, seed=0)
    return X, y


@pytest.fixture(scope="module")
def adapter(images):
    from scanflow.models import InputSchema, as_model

    X, y = images
    net = train_color_net(X, y, epochs=1)
    return as_model(net, schema=InputSchema.from_data(X), classes=[0, 1, 2, 3])


@pytest.fixture(scope="module")
def version(registry, adapter):
    version = registry.log(adapter, "colors")
    registry.promote("colors", version)
    return version


def _service(registry, **trust):
    from scanflow.serve.model_slot import ModelSlot, RegistryModelSource
    from scanflow.serve.predict import PredictionService, create_prediction_app

    source = RegistryModelSource("colors", tracking_uri=registry.uri, **trust)
    service = PredictionService(ModelSlot(source, poll_interval=0))
    return service, create_prediction_app(service)


@pytest.fixture
def client(tracker, version):
    _, api = _service(tracker, trusted_architectures=TRUST)
    with http(api) as c:
        yield c


def test_a_batch_of_nested_lists_in_hwc_layout_is_answered(client, adapter, images):
    X, _ = images
    r = client.post("/predict/batch", json={"images": X[:6].tolist()})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["label"] for p in body["predictions"]] == adapter.predict(X[:6]).tolist()
    expected = adapter.predict_proba(X[:6])
    got = np.array([p["probabilities"] for p in body["predictions"]])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_base64_images_give_the_same_answers_as_nested_lists(client, images):
    X, _ = images
    b64 = [base64.b64encode(x.tobytes()).decode() for x in X[:4]]
    by_b64 = client.post("/predict/batch", json={"images_b64": b64}).json()["predictions"]
    by_list = client.post("/predict/batch", json={"images": X[:4].tolist()}).json()["predictions"]
    assert [p["probabilities"] for p in by_b64] == [p["probabilities"] for p in by_list]
    one = client.post("/predict", json={"image_b64": b64[0]}).json()
    assert one["label"] == by_list[0]["label"]


def test_a_28x28_image_is_a_422_naming_the_expected_shape(client):
    r = client.post("/predict", json={"image": [[0] * 28] * 28})
    assert r.status_code == 422
    err = r.json()["detail"]["errors"][0]
    assert err["loc"] == ["body", "image"]
    assert "expected shape (32, 32, 3)" in err["msg"] and "(28, 28)" in err["msg"]


def test_base64_of_the_wrong_size_names_the_expected_bytes(client):
    r = client.post("/predict/batch", json={"images_b64": [base64.b64encode(bytes(784)).decode()]})
    assert r.status_code == 422
    err = r.json()["detail"]["errors"][0]
    assert err["loc"] == ["body", "images_b64", 0]
    assert "(32, 32, 3)" in err["msg"] and "3072" in err["msg"]


def test_records_sent_to_an_image_model_get_a_422_saying_what_it_takes(client):
    r = client.post("/predict/batch", json={"records": [{"alcohol": 13.2}]})
    assert r.status_code == 422
    err = r.json()["detail"]["errors"][0]
    assert err["loc"] == ["body", "records"]
    assert "takes images 32x32x3 (HWC)" in err["msg"] and "'images_b64'" in err["msg"]


def test_get_model_reports_the_flavor_and_the_image_layout(client):
    model = client.get("/model").json()["model"]
    assert model["flavor"] == "scanflow_torch" and model["native"].endswith("ColorNet")
    assert model["input"]["kind"] == "image" and model["input"]["layout"] == "HWC"
    assert model["input"]["sample_shape"] == [32, 32, 3] and model["input"]["shape"] == [3, 32, 32]


def test_an_untrusted_architecture_is_refused_with_the_setting_that_trusts_it(tracker, version,
                                                                             monkeypatch):
    from scanflow.models import trust

    # other tests of the session trust ColorNet in this process (register_architecture)
    monkeypatch.delitem(trust._ARCHITECTURES, "user_models:ColorNet", raising=False)
    service, api = _service(tracker)
    with http(api) as client:
        r = client.post("/predict", json={"image": np.zeros((32, 32, 3), int).tolist()})
        status = client.get("/model").json()
    assert r.status_code == 503
    assert "user_models:ColorNet" in r.json()["detail"]["message"] and "--trust-architecture" in r.json()["detail"]["message"]
    assert status["model"] is None and "user_models:ColorNet" in status["last_error"]


def test_a_model_object_from_python_is_served_with_its_schema(images):
    from fastapi.testclient import TestClient

    from scanflow.models import InputSchema
    from scanflow.serve.predict import create_prediction_app, serve_model

    X, _ = images
    torch.manual_seed(0)
    service = serve_model(ColorNet(), name="colors", input_schema=InputSchema.from_data(X))
    with TestClient(create_prediction_app(service)) as c:
        r = c.post("/predict/batch", json={"images": X[:2].tolist()})
    assert r.status_code == 200 and len(r.json()["predictions"]) == 2

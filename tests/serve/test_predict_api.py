"""The prediction API: schemas, shape validation, single and batch requests, hot swap."""

import base64
import threading

import httpx
import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from scanflow.improve.classifier import DIGITS, MnistCNN, predict_proba
from scanflow.serve.model_slot import ModelSlot, StaticModelSource
from scanflow.serve.predict import PredictionService, create_prediction_app
from scanflow.serve.server import ServerThread

torch.set_num_threads(1)


def _net(seed: int) -> MnistCNN:
    torch.manual_seed(seed)
    return MnistCNN(channels=(4, 8), hidden=16).eval()


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (8, 28, 28), dtype=np.uint8)


@pytest.fixture
def source():
    return StaticModelSource(_net(0), name="digits")


@pytest.fixture
def client(source):
    service = PredictionService(ModelSlot(source, poll_interval=0), input_schema=DIGITS)
    with TestClient(create_prediction_app(service)) as c:
        yield c


def test_single_prediction_matches_the_model(client, source, images):
    r = client.post("/predict", json={"image": images[0].tolist(), "id": "a"})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = predict_proba(source.load("1"), images[:1])[0]
    assert body["label"] == int(expected.argmax())
    assert body["probabilities"] == pytest.approx(expected.tolist(), abs=1e-5)
    assert body["id"] == "a"
    assert body["model"] == {"name": "digits", "version": "1", "alias": None,
                             "loaded_at": pytest.approx(body["model"]["loaded_at"])}
    assert body["outlier"] is None  # served without a detector


def test_base64_and_nested_lists_give_the_same_answer(client, images):
    by_list = client.post("/predict", json={"image": images[1].tolist()}).json()
    b64 = base64.b64encode(images[1].tobytes()).decode()
    by_b64 = client.post("/predict", json={"image_b64": b64}).json()
    assert by_list["probabilities"] == by_b64["probabilities"]


def test_wrong_shape_is_a_422_naming_the_field_and_expected_shape(client):
    r = client.post("/predict", json={"image": [[0] * 27] * 28})
    assert r.status_code == 422
    err = r.json()["detail"]["errors"][0]
    assert err["loc"] == ["body", "image"]
    assert "expected shape (28, 28)" in err["msg"] and "(28, 27)" in err["msg"]


def test_wrong_base64_length_is_a_422_with_the_expected_shape(client):
    r = client.post("/predict", json={"image_b64": base64.b64encode(bytes(700)).decode()})
    assert r.status_code == 422
    err = r.json()["detail"]["errors"][0]
    assert err["loc"] == ["body", "image_b64"]
    assert "(28, 28)" in err["msg"] and "784" in err["msg"]


def test_pixels_out_of_range_are_refused(client):
    image = [[0] * 28 for _ in range(28)]
    image[3][4] = 300
    r = client.post("/predict", json={"image": image})
    assert r.status_code == 422 and "0..255" in r.json()["detail"]["errors"][0]["msg"]


def test_neither_or_both_image_fields_are_refused(client, images):
    assert client.post("/predict", json={}).status_code == 422
    both = {"image": images[0].tolist(), "image_b64": base64.b64encode(images[0].tobytes()).decode()}
    r = client.post("/predict", json=both)
    assert r.status_code == 422 and "exactly one" in r.json()["detail"]["errors"][0]["msg"]


def test_batch_predicts_each_image_in_order(client, source, images):
    r = client.post("/predict/batch", json={"images": images.tolist(), "ids": list("abcdefgh")})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = predict_proba(source.load("1"), images).argmax(axis=1)
    assert [p["label"] for p in body["predictions"]] == expected.tolist()
    assert [p["id"] for p in body["predictions"]] == list("abcdefgh")
    assert body["request_id"] == 0


def test_batch_error_names_the_index_of_the_bad_image(client, images):
    b64 = [base64.b64encode(x.tobytes()).decode() for x in images]
    b64[5] = base64.b64encode(bytes(10)).decode()
    r = client.post("/predict/batch", json={"images_b64": b64})
    assert r.status_code == 422
    assert r.json()["detail"]["errors"][0]["loc"] == ["body", "images_b64", 5]


def test_batch_ids_must_match_the_images(client, images):
    r = client.post("/predict/batch", json={"images": images[:3].tolist(), "ids": ["x"]})
    assert r.status_code == 422 and r.json()["detail"]["errors"][0]["loc"] == ["body", "ids"]


def test_batch_over_the_limit_is_refused(source, images):
    service = PredictionService(ModelSlot(source, poll_interval=0), max_batch=4, input_schema=DIGITS)
    with TestClient(create_prediction_app(service)) as c:
        r = c.post("/predict/batch", json={"images": images.tolist()})
    assert r.status_code == 422 and "limit of 4" in r.json()["detail"]["errors"][0]["msg"]


def test_openapi_documents_both_endpoints_with_their_schemas(client):
    spec = client.get("/openapi.json").json()
    assert {"/predict", "/predict/batch", "/model", "/health"} <= set(spec["paths"])
    req = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert req["$ref"].endswith("/PredictRequest")
    assert "PredictResponse" in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 200


def test_no_model_yet_is_a_503_that_says_how_to_get_one():
    service = PredictionService(ModelSlot(StaticModelSource(name="digits"), poll_interval=0))
    with TestClient(create_prediction_app(service)) as c:
        r = c.post("/predict", json={"image": [[0] * 28] * 28})
    assert r.status_code == 503 and "register" in r.json()["detail"]["message"]


def test_reload_swaps_in_the_new_version(client, source, images):
    source.set(_net(1), "2")
    r = client.post("/model/reload").json()
    assert r == {"swapped": True, "version": "2", "error": None}
    body = client.post("/predict", json={"image": images[0].tolist()}).json()
    assert body["model"]["version"] == "2"
    assert client.get("/model").json()["swaps"][-1]["from_version"] == "1"


def test_a_model_that_fails_to_load_is_not_swapped_in(client, source, images):
    source.set(torch.nn.Linear(3, 3), "2")  # wrong architecture: the warm-up prediction fails
    r = client.post("/model/reload").json()
    assert r["swapped"] is False and "version 2" in r["error"]
    assert client.post("/predict", json={"image": images[0].tolist()}).json()["model"]["version"] == "1"


def test_no_request_fails_while_models_are_swapped_under_load(source, images):
    """Real HTTP, four client threads, eight swaps: every request answers 200."""
    service = PredictionService(ModelSlot(source, poll_interval=0), input_schema=DIGITS)
    statuses, versions = [], set()
    stop = threading.Event()

    def hammer(url):
        with httpx.Client(base_url=url, timeout=30) as http:
            while not stop.is_set():
                r = http.post("/predict/batch", json={"images": images[:4].tolist()})
                statuses.append(r.status_code)
                if r.status_code == 200:
                    versions.add(r.json()["model"]["version"])

    with ServerThread(create_prediction_app(service)) as server:
        threads = [threading.Thread(target=hammer, args=(server.url,)) for _ in range(4)]
        for t in threads:
            t.start()
        for v in range(2, 10):
            seen = len(statuses)
            while len(statuses) < seen + 3:  # let requests run on each version
                stop.wait(0.01)
            source.set(_net(v), str(v))
            assert service.slot.refresh()
        stop.set()
        for t in threads:
            t.join()
    assert statuses and set(statuses) == {200}
    assert len(versions) >= 2


def test_predictions_are_recorded_for_the_agents(source, images, tmp_path):
    from scanflow.track import PredictionLog

    store = PredictionLog(f"sqlite:///{tmp_path / 'state.db'}")
    service = PredictionService(ModelSlot(source, poll_interval=0), prediction_log=store,
                                service_name="digits-api", input_schema=DIGITS)
    with TestClient(create_prediction_app(service)) as c:
        body = c.post("/predict/batch", json={"images": images[:5].tolist()}).json()
    ids = [p["prediction_id"] for p in body["predictions"]]
    rows = store.predictions_since(0)
    assert [r.id for r in rows] == ids
    assert [r.prediction for r in rows] == [p["label"] for p in body["predictions"]]
    assert {r.service for r in rows} == {"digits-api"} and {r.model_version for r in rows} == {"1"}
    np.testing.assert_array_equal(store.prediction_inputs(ids), images[:5])

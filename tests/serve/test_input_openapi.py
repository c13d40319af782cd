"""The prediction API's OpenAPI document describes the served model's input exactly: what it
accepts validates, what the server refuses does not (issue 14: schemathesis found requests
valid by the generic document that the server refused, and the reverse)."""

from __future__ import annotations

import base64

import jsonschema
import pytest
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient

from scanflow.models import InputSchema
from scanflow.serve.input_openapi import describe_inputs
from scanflow.serve.inputs import decode_batch, decode_image
from scanflow.serve.schemas import BatchPredictRequest, PredictRequest

SHAPE = (2, 3)  # HW: 6 bytes


def _components(schema: InputSchema | None, max_batch: int = 4) -> dict:
    components = {"PredictRequest": PredictRequest.model_json_schema(),
                  "BatchPredictRequest": BatchPredictRequest.model_json_schema()}
    describe_inputs(components, schema, max_batch)
    return components


def _valid(component: dict, body: dict) -> bool:
    return jsonschema.Draft202012Validator(component).is_valid(body)


@pytest.fixture(scope="module")
def image_request():
    return _components(InputSchema.image(*SHAPE))["PredictRequest"]


def test_an_image_of_the_served_shape_validates(image_request):
    assert _valid(image_request, {"image": [[0, 1, 2], [3, 4, 255]]})
    assert _valid(image_request, {"image_b64": base64.b64encode(bytes(6)).decode()})


@pytest.mark.parametrize("image", [[[0, 1, 2]], [[0, 1, 2], [3, 4, 256]], [[0, 1, 2], [3, 4, False]],
                                   [[0, 1, 2], [3, 4, 5, 6]]])
def test_an_image_the_server_refuses_does_not_validate(image_request, image):
    assert not _valid(image_request, {"image": image})


@pytest.mark.parametrize("b64", [base64.b64encode(bytes(5)).decode(), base64.b64encode(bytes(8)).decode(),
                                 "AAAAAAAB", "AAAAAAA=", "AAAAAAAA===="])
def test_base64_of_the_wrong_size_or_not_canonical_does_not_validate(b64):
    schema = _components(InputSchema.image(1, 7))["PredictRequest"]  # 7 bytes: one '=' tail
    assert _valid(schema, {"image_b64": base64.b64encode(bytes(7)).decode()})
    assert not _valid(schema, {"image_b64": b64}), b64


def test_exactly_one_input_and_nothing_else(image_request):
    both = {"image": [[0, 1, 2], [3, 4, 5]], "image_b64": base64.b64encode(bytes(6)).decode()}
    assert not _valid(image_request, both)
    assert not _valid(image_request, {})
    assert not _valid(image_request, {"record": {"a": 1}})


def test_a_batch_is_bounded_by_max_batch():
    batch = _components(InputSchema.image(*SHAPE), max_batch=2)["BatchPredictRequest"]
    image = [[0, 0, 0], [0, 0, 0]]
    assert _valid(batch, {"images": [image, image], "ids": ["a", "b"]})
    assert not _valid(batch, {"images": [image] * 3})
    assert not _valid(batch, {"images": []})


def test_a_record_names_the_model_columns_only():
    schema = _components(InputSchema.table([("alcohol", "double"), ("kind", "string")]))["PredictRequest"]
    assert _valid(schema, {"record": {"alcohol": 13.2, "kind": "red"}})
    assert not _valid(schema, {"record": {"alcohol": 13.2}})
    assert not _valid(schema, {"record": {"alcohol": 13.2, "kind": "red", "extra": 1}})
    assert not _valid(schema, {"record": {"alcohol": "strong", "kind": "red"}})


def test_without_a_served_model_the_generic_request_is_left():
    assert _components(None)["PredictRequest"] == PredictRequest.model_json_schema()


def test_the_served_document_follows_the_model(monkeypatch):
    import numpy as np

    from scanflow.serve.predict import create_prediction_app, serve_model

    class Constant:
        def predict(self, X):
            return np.zeros(len(X), dtype=int)

    monkeypatch.delenv("SCANFLOW_TOKEN", raising=False)
    service = serve_model(Constant(), name="c", input_schema=InputSchema.image(*SHAPE))
    with TestClient(create_prediction_app(service)) as client:
        request = client.get("/openapi.json").json()["components"]["schemas"]["PredictRequest"]
    assert request["properties"]["image"]["anyOf"][0]["minItems"] == SHAPE[0]


# -- what the document refuses, the server refuses (regressions found by schemathesis) --------
def test_true_and_false_are_not_pixels():
    with pytest.raises(RequestValidationError) as caught:
        decode_image([[0, 1, 2], [3, 4, False]], shape=SHAPE, loc=("body", "image"))
    assert "true/false" in caught.value.errors()[0]["msg"]
    with pytest.raises(RequestValidationError) as caught:
        decode_batch([[[0, 1, 2], [3, True, 5]]], shape=SHAPE, field="images")
    assert caught.value.errors()[0]["loc"] == ("body", "images", 0)


def test_base64_that_is_not_canonical_is_refused():
    assert decode_image(base64.b64encode(bytes(6)).decode(), shape=SHAPE, loc=("body", "x")).shape == SHAPE
    with pytest.raises(RequestValidationError) as caught:
        decode_image("AAAAAAAA====", shape=SHAPE, loc=("body", "image_b64"))
    assert "canonical base64" in caught.value.errors()[0]["msg"]


@pytest.mark.parametrize("value", ["1.5", "-3e2", ".5", 7, None])
def test_a_numeric_column_takes_numbers_and_number_text(value):
    from scanflow.serve.inputs import decode_records

    schema = InputSchema.table(["alcohol"])
    assert _valid(_components(schema)["PredictRequest"], {"record": {"alcohol": value}})
    assert len(decode_records([{"alcohol": value}], schema, loc=("body", "records"))) == 1


@pytest.mark.parametrize("value", ["strong", "nan", "1_000", " 1", True])
def test_a_numeric_column_refuses_what_its_document_refuses(value):
    from scanflow.serve.inputs import decode_records

    schema = InputSchema.table(["alcohol"])
    assert not _valid(_components(schema)["PredictRequest"], {"record": {"alcohol": value}})
    with pytest.raises(RequestValidationError) as caught:
        decode_records([{"alcohol": value}], schema, loc=("body", "records"))
    assert caught.value.errors()[0]["loc"] == ("body", "records", 0, "alcohol")

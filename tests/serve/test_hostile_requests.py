"""Hostile requests get a 4xx in the one documented error shape, never a 500, a file outside
the state folder or an absolute path (issue 14)."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from scanflow.app import Application
from scanflow.improve.labels import LabelStore
from scanflow.serve.executors import executor_router
from scanflow.serve.labeling import HUMAN_PATTERN, LABELER_COOKIE, create_labeling_app
from scanflow.webapi import ErrorBody, install

TOO_BIG = 2**63


@pytest.fixture
def store(tmp_path):
    s = LabelStore(tmp_path / "labels.db")
    s.enqueue(np.zeros((2, 8, 8), np.uint8), batch="img")
    yield s
    s.close()


@pytest.fixture
def labeling(store, monkeypatch):
    monkeypatch.delenv("SCANFLOW_TOKEN", raising=False)
    return TestClient(create_labeling_app(store))


def _error(r, status: int) -> dict:
    assert r.status_code == status, r.text
    return ErrorBody.model_validate(r.json()).detail.model_dump()


def test_a_labeler_name_outside_latin1_is_kept_in_the_cookie(labeling):
    page = labeling.get("/", params={"labeler": "Zoë 李"})
    assert page.status_code == 200
    assert page.cookies[LABELER_COOKIE] == quote("Zoë 李", safe="")
    again = labeling.get("/")  # the name comes back from the cookie
    assert "Zoë 李" in again.text


def test_next_accepts_any_name_but_oracle(labeling):
    assert labeling.get("/api/next", params={"labeler": "Zoë 李"}).status_code == 200
    assert _error(labeling.get("/api/next", params={"labeler": " Oracle "}), 422)["field"] == "labeler"


@pytest.mark.parametrize("name", ["oracle", "ORACLE", " oracle\t", "", "   "])
def test_the_schema_pattern_refuses_what_the_server_refuses(name):
    assert re.fullmatch(HUMAN_PATTERN, name) is None


@pytest.mark.parametrize("name", ["ana", "oracles", "the oracle", "Zoë 李", " bob "])
def test_the_schema_pattern_accepts_what_the_server_accepts(name):
    assert re.fullmatch(HUMAN_PATTERN, name) is not None


@pytest.mark.parametrize("method, path", [
    ("get", "/api/items/{id}"), ("get", "/items/{id}/image.png"),
    ("post", "/api/items/{id}/label"), ("post", "/api/items/{id}/skip")])
def test_item_ids_beyond_64_bits_are_422_not_a_database_overflow(labeling, method, path):
    body = {"label": 0, "labeler": "ana"} if method == "post" else None
    r = getattr(labeling, method)(path.format(id=TOO_BIG), **({"json": body} if body else {}))
    assert _error(r, 422)["field"] == "item_id"
    r = getattr(labeling, method)(path.format(id=TOO_BIG - 1), **({"json": body} if body else {}))
    assert _error(r, 404)["field"] == "item_id"


def test_validation_errors_list_every_field_in_the_one_shape(labeling):
    detail = _error(labeling.post("/api/items/1/label", json={"label": "x"}), 422)
    assert {tuple(e["loc"]) for e in detail["errors"]} == {("body", "label"), ("body", "labeler")}
    assert detail["field"] in ("label", "labeler") and detail["fix"]


def test_an_unknown_route_and_a_malformed_body_answer_in_the_one_shape(labeling):
    assert _error(labeling.get("/nowhere"), 404)["field"] == "path"
    undecodable = labeling.post("/api/undo", content=b"\xff{", headers={"content-type": "application/json"})
    assert _error(undecodable, 400)["field"] == "request"
    not_json = labeling.post("/api/undo", content=b"{not json", headers={"content-type": "application/json"})
    assert _error(not_json, 422)["errors"][0]["type"] == "json_invalid"


@pytest.fixture
def executors(tmp_path):
    state = tmp_path / "state"
    (state / "runs").mkdir(parents=True)
    # What `%2e%2e` would reach: <state>/runs/../state.json
    (state / "state.json").write_text(json.dumps({"run_id": "secret", "status": "leaked"}))
    app = Application(name="a", state_dir=str(state))
    api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    install(api)
    api.include_router(executor_router(app))
    return TestClient(api), tmp_path


@pytest.mark.parametrize("run_id", ["a" * 300, "%2e%2e", "%2E%2E%2Fstate", "ABC", "0" * 33])
def test_run_ids_that_are_not_hex_are_404_without_reading_a_file(executors, run_id):
    client, root = executors
    detail = _error(client.get(f"/executors/runs/{run_id}"), 404)
    # %2F decodes to '/', so that one matches no route at all (field 'path'): a 404 either way
    assert detail["field"] in ("run_id", "path") and "leaked" not in json.dumps(detail)
    assert str(root) not in json.dumps(detail)


def test_a_missing_run_404_does_not_reveal_the_state_folder(executors):
    client, root = executors
    detail = _error(client.get("/executors/runs/abc123"), 404)
    assert detail["message"] == "no run 'abc123'" and str(root) not in json.dumps(detail)


def _labeling_with_token(store, token="s3cret"):
    return TestClient(create_labeling_app(store, token=token))


@pytest.mark.parametrize("path", ["/api/openapi.json", "/api/docs", "/api/redoc"])
def test_with_a_token_the_docs_need_it(store, path):
    client = _labeling_with_token(store)
    assert _error(client.get(path), 401)["field"] == "token"
    assert client.get(path, headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_with_a_token_the_schema_offers_the_authorize_scheme(store):
    schema = _labeling_with_token(store).get("/api/openapi.json", headers={"X-Scanflow-Token": "s3cret"}).json()
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert schema["paths"]["/api/progress"]["get"]["responses"]["401"]


def test_without_a_token_the_docs_are_open_and_claim_no_security(labeling):
    schema = labeling.get("/api/openapi.json").json()
    assert "securitySchemes" not in schema["components"] and "security" not in schema
    assert "Swagger" in labeling.get("/api/docs").text


def test_the_openapi_documents_the_error_shape_and_media_types(labeling):
    schema = labeling.get("/api/openapi.json").json()
    names = schema["components"]["schemas"]
    assert "ErrorBody" in names and "HTTPValidationError" not in names
    label = schema["paths"]["/api/items/{item_id}/label"]["post"]["responses"]
    assert set(label) >= {"200", "400", "404", "409", "422"}
    for code in ("400", "404", "409", "422"):
        assert label[code]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert "image/png" in schema["paths"]["/items/{item_id}/image.png"]["get"]["responses"]["200"]["content"]
    assert "text/html" in schema["paths"]["/"]["get"]["responses"]["200"]["content"]
    body = names["LabelRequest"]["properties"]["labeler"]
    assert body["pattern"] == HUMAN_PATTERN


def test_predict_requests_say_exactly_one_input_in_the_schema():
    from scanflow.serve.schemas import BatchPredictRequest, PredictRequest

    branches = PredictRequest.model_json_schema()["oneOf"]
    assert [b["required"] for b in branches] == [["record"], ["image"], ["image_b64"]]
    assert len(BatchPredictRequest.model_json_schema()["oneOf"]) == 3

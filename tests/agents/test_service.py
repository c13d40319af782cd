"""One agent served as a FastAPI app: messages in, control, decisions out."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from test_runtime import spec_app

from scanflow.agents.service import create_agent_app


def wait_until(predicate, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _statuses(client):
    return [action["status"] for decision in client.get("/decisions").json()
            for action in decision["actions"]]


def test_a_posted_message_is_stored_once_and_handled_by_the_served_agent(tmp_path):
    api = create_agent_app(spec_app(tmp_path), "worker", poll_interval=0.05)
    with TestClient(api) as client:
        body = {"key": "ext-1", "kind": "work", "payload": {"n": 1}}
        first = client.post("/messages", json=body)
        again = client.post("/messages", json=body)
        assert first.status_code == again.status_code == 202
        assert first.json()["created"] and not again.json()["created"]
        # the decision is recorded when the action starts; wait until the action has finished
        assert wait_until(lambda: _statuses(client) == ["done"])
        [decision] = client.get("/decisions").json()
        assert decision["reason"] == "n=1 == 1 -> work"
        info = client.get("/agent").json()
        assert info["name"] == "worker" and info["inbox"] == 0 and not info["paused"]


def test_pause_resume_and_trigger_over_http(tmp_path):
    api = create_agent_app(spec_app(tmp_path), "watcher", run_agent=False)
    with TestClient(api) as client:
        assert client.post("/pause").json() == {"agent": "watcher", "paused": True}
        assert client.get("/agent").json()["paused"] is True
        assert client.post("/resume").json()["paused"] is False
        out = client.post("/trigger", json={"sensor": "predictions"})
        assert out.status_code == 202 and out.json()["sensor"] == "predictions"
        missing = client.post("/trigger", json={"sensor": "nope"})
        assert missing.status_code == 404 and "sensors: predictions" in missing.json()["detail"]["message"]
        info = client.get("/agent").json()
        assert info["sensors"][0]["schedule"].startswith("every 10 new predictions")


def test_an_invalid_typed_payload_is_refused_with_the_field(tmp_path):
    api = create_agent_app(spec_app(tmp_path), "worker", run_agent=False)
    with TestClient(api) as client:
        r = client.post("/messages", json={"key": "k", "kind": "labels.ready", "payload": {"n_labeled": "x"}})
        assert r.status_code == 422 and "n_labeled" in r.json()["detail"]["message"]


def test_a_served_agent_with_a_token_refuses_requests_without_it(tmp_path):
    api = create_agent_app(spec_app(tmp_path), "watcher", run_agent=False, token="s3cret")
    with TestClient(api) as client:
        refused = client.post("/pause")
        assert refused.status_code == 401
        assert refused.json()["detail"]["field"] == "token"
        assert not client.get("/agent", headers={"Authorization": "Bearer s3cret"}).json()["paused"]
        assert client.post("/pause", headers={"X-Scanflow-Token": "s3cret"}).status_code == 200


def test_every_json_answer_is_a_named_model(tmp_path):
    doc = create_agent_app(spec_app(tmp_path), "watcher", run_agent=False).openapi()
    schemas = {f"{method} {path}": answer["content"]["application/json"]["schema"]
               for path, operations in doc["paths"].items() for method, op in operations.items()
               for code, answer in op["responses"].items() if code.startswith("2")}
    assert "get /health" in schemas
    assert all("$ref" in schema.get("items", schema) for schema in schemas.values()), schemas

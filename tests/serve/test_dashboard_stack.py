"""The dashboard and the full `scanflow serve` stack on a real embedded tracker and state DB."""

import time

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from scanflow.app import Agent, Application, Executor, Service, TrackerSettings, Workflow
from scanflow.improve.classifier import MnistCNN

torch.set_num_threads(1)


def _register(app, seed: int) -> int:
    from scanflow.improve.classifier import DIGITS
    from scanflow.models import log_torch_model
    from scanflow.track import ensure_experiment, get_client, register_model, tracking_uri

    client = get_client(tracking_uri(app))
    run = client.create_run(ensure_experiment(app, client))
    torch.manual_seed(seed)
    net = MnistCNN(channels=(4, 8), hidden=16).eval()
    uri = log_torch_model(net, "model", init_kwargs=net.get_config(), run_id=run.info.run_id,
                          schema=DIGITS)  # the signature the prediction API checks requests against
    client.set_terminated(run.info.run_id)
    return register_model(uri, "digits", client=client)


def _app(root, state, uri=None):
    app = Application(
        name="dash-test",
        workflows=[Workflow(name="training", nodes=[
            Executor(name="encode", callable="json:dumps", parameters={"obj": [1, 2]}, cache=False)])],
        services=[Service(name="predict", parameters={"model": "digits", "drift_window": 50})],
        agents=[Agent(name="checker", kind="checker", supervises=["predict"])],
        tracker=TrackerSettings(uri=uri),
    )
    app.root = root
    app.state_dir = str(state)
    return app


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """One MLflow store for the module (creating one costs seconds): version 1 registered."""
    from scanflow.track import tracking_uri

    folder = tmp_path_factory.mktemp("registry")
    uri = tracking_uri(_app(folder, folder / "state"))
    with pytest.MonkeyPatch.context() as mp:  # log_torch_model reads $MLFLOW_TRACKING_URI
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        _register(_app(folder, folder / "state", uri), 0)
    return uri


@pytest.fixture
def application(tmp_path, monkeypatch, registry):
    from scanflow.track import get_client, promote

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry)
    app = _app(tmp_path, tmp_path / ".scanflow", registry)
    promote("digits", 1, client=get_client(registry))
    return app


@pytest.fixture
def stack(application):
    from scanflow.serve.stack import ServeStack

    return ServeStack(application, poll_interval=0)


def test_the_page_shows_every_section(stack):
    with TestClient(stack.api) as client:
        html = client.get("/dashboard").text
    for section in ("graph-card", "model-card", "labels-card", "drift-card", "decisions-card", "runs-card"):
        assert f'id="{section}"' in html
    assert "<svg" in html  # the application graph, rendered server-side
    assert 'data-version="1"' in html and "champion" in html


def test_status_reports_served_model_versions_labels_and_decisions(stack):
    stack.state.record_decision("k1", "checker", "m1", "drift", "alert", "drift (ae): 70/100 flagged",
                                {"first_id": 1}, [], {})
    stack.labels.enqueue(np.zeros((3, 28, 28), np.uint8), batch="b1")
    with TestClient(stack.api) as client:
        client.post("/predict/batch", json={"images": np.zeros((4, 28, 28), int).tolist()})
        d = client.get("/dashboard/api/status").json()
    assert d["served_model"]["version"] == "1" and d["served_model"]["samples"] == 4
    assert d["models"][0]["aliases"] == ["champion"]
    assert d["labels"]["pending"] == 3 and d["labels"]["batches"][0]["name"] == "b1"
    assert d["decisions"][0]["reason"] == "drift (ae): 70/100 flagged"
    assert "70/100 flagged" in d["html"]["decisions"]
    assert d["statuses"]["service:predict"] == "running"
    assert d["errors"] == {}


def test_a_promotion_in_the_registry_is_served_without_restart(stack, application):
    from scanflow.track import promote

    with TestClient(stack.api) as client:
        assert client.post("/predict", json={"image": [[0] * 28] * 28}).json()["model"]["version"] == "1"
        new = str(_register(application, 1))
        promote("digits", new)
        assert client.post("/model/reload").json()["version"] == new
        assert client.post("/predict", json={"image": [[0] * 28] * 28}).json()["model"]["version"] == new
        d = client.get("/dashboard/api/status").json()
    assert [s["to_version"] for s in d["served_model"]["swaps"]] == ["1", new]
    assert d["models"][0]["version"] == new and d["models"][0]["aliases"][0] == "champion"


def test_one_executor_runs_on_demand_and_colours_the_graph(stack):
    with TestClient(stack.api) as client:
        assert client.get("/executors").json() == [
            {"workflow": "training", "node": "encode", "entrypoint": "callable:json:dumps"}]
        r = client.post("/executors/training/encode/run")
        assert r.status_code == 202, r.text
        run_id = r.json()["run_id"]
        for _ in range(300):
            status = client.get(f"/executors/runs/{run_id}").json()
            if status["status"] != "running":
                break
            time.sleep(0.1)
        assert status["status"] == "succeeded" and status["nodes"] == {"training/encode": "succeeded"}
        d = client.get("/dashboard/api/status").json()
        assert d["statuses"]["training/encode"] == "succeeded"
        assert d["runs"][0]["run_id"] == run_id
        assert client.post("/executors/training/nope/run").status_code == 404


# pages, images and files: not JSON (their media types are documented with the error bodies)
NOT_JSON = (".svg", ".png", "/static/{name}", "/logout")


def _json_answers(doc):
    """``(method path status, schema)`` of every 2xx JSON answer of an OpenAPI document."""
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            for code, answer in op["responses"].items():
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                if code.startswith("2") and schema is not None and not path.endswith(NOT_JSON):
                    yield f"{method.upper()} {path} {code}", schema


def test_every_json_answer_of_serve_is_a_named_model(stack):
    answers = dict(_json_answers(stack.api.openapi()))
    assert {"GET /health 200", "GET /drift 200", "GET /model 200", "POST /model/reload 200",
            "GET /dashboard/api/status 200", "GET /executors 200"} <= set(answers)
    untyped = {where: schema for where, schema in answers.items()
               if "$ref" not in schema.get("items", schema) and schema.get("items") != {"type": "string"}}
    assert untyped == {}


def test_the_status_json_is_the_typed_model(stack):
    from scanflow.serve.dashboard import DashboardStatusOut

    stack.labels.enqueue(np.zeros((2, 28, 28), np.uint8), batch="b1")
    with TestClient(stack.api) as client:
        client.post("/predict/batch", json={"images": np.zeros((2, 28, 28), int).tolist()})
        d = client.get("/dashboard/api/status").json()
        health = client.get("/health").json()
    assert DashboardStatusOut.model_validate(d).model_dump(mode="json").keys() == d.keys()
    assert d["labels"]["batches"][0]["name"] == "b1" and d["served_model"]["columns"] == []
    assert health == {"status": "ok", "model_version": "1", "requests": 1, "samples": 2}


def test_drift_plot_is_inline_svg(stack):
    with TestClient(stack.api) as client:
        svg = client.get("/dashboard/plots/drift.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and "<svg" in svg.text


def test_serving_off_loopback_needs_a_token(application):
    from scanflow.security import InsecureBindError
    from scanflow.serve.server import ServerThread
    from scanflow.serve.stack import ServeStack

    with pytest.raises(InsecureBindError, match="token"):
        ServerThread(ServeStack(application, poll_interval=0).api, host="0.0.0.0")


def test_a_token_protects_every_endpoint(application):
    from scanflow.serve.stack import ServeStack

    stack = ServeStack(application, poll_interval=0, token="s3cret")
    with TestClient(stack.api) as client:
        assert client.get("/dashboard/api/status").status_code == 401
        assert client.post("/predict", json={"image": [[0] * 28] * 28}).status_code == 401
        ok = client.get("/dashboard/api/status", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


# -- drift episodes ------------------------------------------------------------------------------
def _labeled_round(stack, episode_id: int, *, people: int, oracle: int, skipped: int, pending: int,
                   first_id: int = 1) -> None:
    """Round 1 of an episode as the improver files it: batch ``episode-<id>-r1`` in the real label
    store, some answered by a person, some by the oracle, some skipped, the rest waiting."""
    from scanflow.agents.episodes import EpisodeStore
    from scanflow.improve.labels import ORACLE

    n = people + oracle + skipped + pending
    batch = f"episode-{episode_id}-r1"
    pids = list(range(first_id, first_id + n))
    ids = stack.labels.enqueue(np.zeros((n, 28, 28), np.uint8), batch=batch,
                               meta=[{"prediction_id": p, "episode": episode_id} for p in pids])
    EpisodeStore(stack.state).mark_requested(episode_id, pids, batch, key=f"round-{episode_id}-1")
    for i in ids[:people]:
        stack.labels.submit(i, 3, "ana")
    for i in ids[people:people + oracle]:
        stack.labels.submit(i, 7, ORACLE, kind=ORACLE)
    for i in ids[people + oracle:people + oracle + skipped]:
        stack.labels.skip(i, "ana")


def _two_episodes(stack):
    """Episode 1: fog, 8 labels asked, zero-label v2 not promoted, v3 promoted, resolved.
    Episode 2: a new shift, open, 4 labels asked, one answered by a person."""
    from scanflow.agents.episodes import RESOLVED, SETTLING, EpisodeStore

    episodes = EpisodeStore(stack.state)
    first = episodes.open_or_join("digits", list(range(1, 31)), key="alarm-1", budget=100,
                                  reason="drift (ae): 70/100 flagged")
    _labeled_round(stack, first.id, people=2, oracle=3, skipped=1, pending=2)
    episodes.update_info(first.id, key="zero-1", zero_label={
        "version": "2", "run_id": "r2", "made_by": "zero-label:align"})
    episodes.update_info(first.id, key="improve-1/accounting", trained_on=4, held_out=1)
    episodes.note(first.id, "promoted", key="promoted-1", version="3", final=True)
    episodes.set_status(first.id, SETTLING, key="settle-1", reason="v3 handles the shift")
    episodes.set_status(first.id, RESOLVED, key="resolve-1", reason="data accepted")
    second = episodes.open_or_join("digits", list(range(31, 41)), key="alarm-2", budget=100)
    _labeled_round(stack, second.id, people=1, oracle=0, skipped=0, pending=3, first_id=31)
    return first, second


def test_episodes_are_listed_with_honest_label_accounting(stack):
    first, second = _two_episodes(stack)
    with TestClient(stack.api) as client:
        body = client.get("/dashboard/api/episodes").json()
    newest, oldest = body["episodes"]
    assert (newest["id"], oldest["id"]) == (second.id, first.id)
    assert oldest["labels"] == {"requested": 8, "answered": 5, "human": 2, "oracle": 3, "skipped": 1,
                                "pending": 2, "trained_on": 4, "held_out": 1}
    assert oldest["status"] == "resolved" and not oldest["can_close"] and oldest["pool"] == 30
    assert oldest["promotions"][0]["version"] == "3" and oldest["promotions"][0]["final"]
    assert oldest["zero_label"] == {"method": "align", "version": "2", "promoted": False}
    assert oldest["settled_at"] <= oldest["closed_at"]
    assert newest["status"] == "open" and newest["can_close"] and newest["labels"]["answered"] == 1
    totals = body["totals"]
    assert totals["labels"]["answered"] == 6 and totals["labels"]["human"] == 3
    assert totals["labels"]["requested"] == 12 and totals["labels"]["pending"] == 5
    assert (totals["episodes"], totals["active"], totals["promotions"]) == (2, 1, 1)


def test_the_page_shows_episodes_with_labels_answered_first(stack):
    import re

    first, second = _two_episodes(stack)
    with TestClient(stack.api) as client:
        html = client.get("/dashboard").text
        fragment = client.get("/dashboard/api/status").json()["html"]["episodes"]
    assert 'id="episodes-card"' in html
    for text in (html, fragment):
        assert re.search(r'id="episodes-answered"[^>]*>6<', text)  # the headline: 5 + 1
        assert f'data-episode="{first.id}" data-status="resolved"' in text
        assert f'data-episode="{second.id}" data-status="open"' in text
        assert f'data-close-episode="{second.id}"' in text  # only the active one can be closed
        assert f'data-close-episode="{first.id}"' not in text
        assert "align v2" in text and "not promoted" in text


def test_a_person_closes_an_open_episode_once(stack):
    from scanflow.agents.episodes import EpisodeStore
    from scanflow.agents.store import StateStore

    first, second = _two_episodes(stack)
    url = f"/dashboard/api/episodes/{second.id}/close"
    with TestClient(stack.api) as client:
        r = client.post(url, json={"reason": "expected seasonal shift", "by": "ana"})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "closed"
        # committed: a fresh connection to the state database sees it
        closed = EpisodeStore(StateStore(stack.state.url)).get(second.id)
        assert closed.status == "closed" and closed.closed_at is not None
        assert closed.info["events"][-1]["reason"] == "expected seasonal shift (ana)"
        again = client.post(url, json={})
        assert again.status_code == 409
        assert again.json()["detail"]["field"] == "episode_id"
        assert "already closed" in again.json()["detail"]["message"]
        resolved = client.post(f"/dashboard/api/episodes/{first.id}/close", json={})
        assert resolved.status_code == 409 and "already resolved" in resolved.json()["detail"]["message"]
        missing = client.post("/dashboard/api/episodes/999/close", json={})
        assert missing.status_code == 404
        assert missing.json()["detail"] == {"field": "episode_id", "message": "no episode 999",
                                            "fix": "list the episodes with GET /dashboard/api/episodes"}
        listed = client.get("/dashboard/api/episodes").json()["episodes"]
    assert [e["status"] for e in listed] == ["closed", "resolved"] and listed[0]["can_close"] is False
    assert listed[0]["status_reason"] == "expected seasonal shift (ana)"


def test_closing_takes_json_only_so_other_pages_cannot_post_it(stack):
    from scanflow.agents.episodes import EpisodeStore

    _, second = _two_episodes(stack)
    with TestClient(stack.api) as client:
        form = client.post(f"/dashboard/api/episodes/{second.id}/close", data={"reason": "x"})
        empty = client.post(f"/dashboard/api/episodes/{second.id}/close")
    assert form.status_code == 422 and empty.status_code == 422
    assert EpisodeStore(stack.state).get(second.id).status == "open"


def test_closing_an_episode_needs_the_token(application):
    from scanflow.agents.episodes import EpisodeStore
    from scanflow.serve.stack import ServeStack

    stack = ServeStack(application, poll_interval=0, token="s3cret")
    episode = EpisodeStore(stack.state).open_or_join("digits", [1, 2], key="alarm-1")
    url = f"/dashboard/api/episodes/{episode.id}/close"
    with TestClient(stack.api) as client:
        assert client.get("/dashboard/api/episodes").status_code == 401
        assert client.post(url, json={}).status_code == 401
        assert EpisodeStore(stack.state).get(episode.id).status == "open"
        ok = client.post(url, json={}, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and ok.json()["reason"] == "closed by a person"


def test_the_model_section_names_the_flavor_and_the_input(stack):
    with TestClient(stack.api) as client:
        d = client.get("/dashboard/api/status").json()
    assert d["served_model"]["flavor"] == "scanflow_torch"
    assert d["served_model"]["input"] == "images 28x28 (HW)"
    assert "scanflow_torch</span> &middot; images 28x28 (HW)" in d["html"]["model"]

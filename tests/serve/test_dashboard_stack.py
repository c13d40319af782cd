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

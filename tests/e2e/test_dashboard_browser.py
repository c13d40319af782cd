"""The dashboard in a real headless Chromium: sections render, live status updates by polling."""

import numpy as np
import pytest
import torch

from scanflow.app import Agent, Application, Executor, Service, TrackerSettings, Workflow
from scanflow.improve.classifier import MnistCNN

pytestmark = pytest.mark.e2e
torch.set_num_threads(1)


def _register(uri: str, seed: int) -> int:
    from scanflow.models import log_torch_model
    from scanflow.track import get_client, register_model

    client = get_client(uri)
    exp = client.get_experiment_by_name("browser") or client.get_experiment(client.create_experiment("browser"))
    run = client.create_run(exp.experiment_id)
    torch.manual_seed(seed)
    net = MnistCNN(channels=(4, 8), hidden=16).eval()
    model_uri = log_torch_model(net, "model", init_kwargs=net.get_config(), run_id=run.info.run_id)
    client.set_terminated(run.info.run_id)
    return register_model(model_uri, "digits", client=client)


@pytest.fixture
def stack(tmp_path, monkeypatch):
    from scanflow.serve.stack import ServeStack
    from scanflow.track import embedded_uri, promote

    uri = embedded_uri(tmp_path / "tracker")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    promote("digits", _register(uri, 0))
    app = Application(
        name="browser-test",
        workflows=[Workflow(name="training", nodes=[
            Executor(name="train", callable="json:dumps", parameters={"obj": 1}),
            Executor(name="evaluate", callable="json:dumps", parameters={"obj": 2}, depends_on=["train"])])],
        services=[Service(name="predict", parameters={"model": "digits"})],
        agents=[Agent(name="checker", kind="checker", supervises=["predict"], talks_to=["planner"]),
                Agent(name="planner", kind="planner", supervises=["predict"])],
        tracker=TrackerSettings(uri=uri),
    )
    app.root = tmp_path
    app.state_dir = str(tmp_path / "state")
    s = ServeStack(app, poll_interval=0)
    s.dashboard.poll_seconds = 0.3
    s.prediction.start()  # the e2e server runs without lifespan events
    yield s
    s.prediction.stop()


def test_dashboard_renders_every_section_and_follows_live_changes(stack, live_server, page):
    from scanflow.track import promote

    base = live_server(stack.api)
    stack.labels.enqueue(np.zeros((2, 28, 28), np.uint8), batch="drifted-1")
    page.goto(base + "/dashboard")

    # the multi-graph: workflow nodes and agents, drawn as SVG
    graph = page.locator("#graph svg")
    assert graph.count() == 1
    assert graph.locator("text", has_text="evaluate").count() >= 1
    assert graph.locator("text", has_text="planner").count() >= 1
    # model versions, with the champion marked
    assert page.locator("#model-versions tr.champion").get_attribute("data-version") == "1"
    # the labeling queue links to the labeling UI
    assert page.locator("#labels-pending").inner_text() == "2"
    assert page.locator("#label-link").get_attribute("href") == "/label/"

    # live: a decision, a prediction and a promotion appear without reloading the page
    stack.state.record_decision("k1", "checker", "m1", "drift", "alert",
                                "drift (ae): 64/100 samples over threshold -> alert", {}, [], {})
    page.request.post(base + "/predict/batch", data={"images": np.zeros((3, 28, 28), int).tolist()})
    page.locator("#decisions li[data-decision=alert]").wait_for()
    assert "64/100 samples" in page.locator("#decisions").inner_text()
    promote("digits", _register(stack.tracking_uri, 1))
    stack.slot.refresh()
    page.locator("#model-versions tr.champion[data-version='2']").wait_for()
    page.wait_for_function("document.getElementById('served-version').textContent === '2'")

    # the labeling UI is one click away, served by the same app
    page.click("#label-link")
    page.wait_for_url("**/label/**")
    assert page.title()

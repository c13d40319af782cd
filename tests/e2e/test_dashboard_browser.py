"""The dashboard in a real headless Chromium: sections render, live status updates by polling."""

import numpy as np
import pytest
import torch

from scanflow.app import Agent, Application, Executor, Service, TrackerSettings, Workflow
from scanflow.improve.classifier import MnistCNN

pytestmark = pytest.mark.e2e
torch.set_num_threads(1)


def _register(uri: str, seed: int) -> int:
    from scanflow.improve.classifier import DIGITS
    from scanflow.models import log_torch_model
    from scanflow.track import get_client, register_model

    client = get_client(uri)
    exp = client.get_experiment_by_name("browser") or client.get_experiment(client.create_experiment("browser"))
    run = client.create_run(exp.experiment_id)
    torch.manual_seed(seed)
    net = MnistCNN(channels=(4, 8), hidden=16).eval()
    model_uri = log_torch_model(net, "model", init_kwargs=net.get_config(), run_id=run.info.run_id,
                                schema=DIGITS)  # the input the prediction API checks requests against
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


def _episode(stack, model: str, *, people: int = 0, oracle: int = 0, pending: int = 0):
    """An open drift episode of ``model`` with round 1 (batch ``episode-<id>-r1``) in the label store."""
    from scanflow.agents.episodes import EpisodeStore
    from scanflow.improve.labels import ORACLE

    episodes = EpisodeStore(stack.state)
    episode = episodes.open_or_join(model, list(range(1, 21)), key=f"alarm-{model}", budget=100)
    n = people + oracle + pending
    if n:
        batch = f"episode-{episode.id}-r1"
        ids = stack.labels.enqueue(np.zeros((n, 28, 28), np.uint8), batch=batch)
        episodes.mark_requested(episode.id, list(range(1, n + 1)), batch, key=f"round-{episode.id}")
        for i in ids[:people]:
            stack.labels.submit(i, 1, "ana")
        for i in ids[people:people + oracle]:
            stack.labels.submit(i, 2, ORACLE, kind=ORACLE)
    return episode


def test_drift_episodes_render_follow_the_database_and_close_from_the_page(stack, live_server, page):
    from scanflow.agents.episodes import CLOSED, EpisodeStore

    first = _episode(stack, "digits", people=2, oracle=3, pending=2)
    second = _episode(stack, "segment")
    third = _episode(stack, "wine")
    episodes = EpisodeStore(stack.state)
    base = live_server(stack.api)
    page.goto(base + "/dashboard")

    # the section renders, labels answered (people + oracle) first
    assert page.locator("#episodes-card h2").inner_text() == "Drift episodes"
    assert page.locator("#episodes-answered").inner_text() == "5"
    row = page.locator(f"#episodes tr[data-episode='{first.id}']")
    assert row.get_attribute("data-status") == "open"
    assert "5 (2 / 3)" in row.inner_text()
    assert page.locator(f"[data-close-episode='{second.id}']").is_visible()

    # live: a label answered and an episode closed in the database show after the next poll
    pending = stack.labels.items_of(f"episode-{first.id}-r1", status="pending")[0]
    stack.labels.submit(pending.id, 4, "bob")
    episodes.set_status(first.id, CLOSED, key="cli-close", reason="closed by a person (cli)")
    page.locator(f"#episodes tr[data-episode='{first.id}'][data-status='closed']").wait_for()
    page.wait_for_function("document.getElementById('episodes-answered').textContent === '6'")
    assert page.locator(f"[data-close-episode='{first.id}']").count() == 0

    # the close button: a reason and a name, committed, then shown as closed
    page.click(f"[data-close-episode='{second.id}']")
    page.fill("#close-reason", "not a real shift")
    page.fill("#close-by", "carla")
    page.click("#close-confirm")
    page.locator(f"#episodes tr[data-episode='{second.id}'][data-status='closed']").wait_for()
    assert not page.locator("#close-dialog").is_visible()
    closed = episodes.get(second.id)
    assert closed.status == CLOSED and closed.info["events"][-1]["reason"] == "not a real shift (carla)"

    # closed elsewhere while the dialog was open: the refusal is shown, nothing changes twice
    page.click(f"[data-close-episode='{third.id}']")
    episodes.set_status(third.id, CLOSED, key="other-close", reason="closed by a person (dana)")
    page.click("#close-confirm")
    page.locator("#close-error", has_text="already closed").wait_for()
    page.click("#close-cancel")
    assert episodes.get(third.id).info["events"][-1]["reason"] == "closed by a person (dana)"

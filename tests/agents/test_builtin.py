"""The built-in agents (tracker, checker, improver, planner) closing the loop on small data."""

from __future__ import annotations

import numpy as np
import pytest
from agent_fakes import Ledger, MeanShiftDetector, Registry, accuracy_gate, images

from scanflow.agents import AgentRuntime, StateStore
from scanflow.app import Agent, Application
from scanflow.improve.labels import LabelStore, OracleLabeler


def make_app(tmp_path, planner_config=None, tracker_config=None) -> Application:
    app = Application(name="loop", state_dir=str(tmp_path / "state"), agents=[
        Agent(name="tracker", kind="tracker", talks_to=["checker", "planner"],
              config={"batch_size": 50, "window": 100, **(tracker_config or {})}),
        Agent(name="checker", kind="checker", talks_to=["improver"], config={"budget": 5}),
        Agent(name="improver", kind="improver", talks_to=["planner"], config={"min_labels": 1000}),
        Agent(name="planner", kind="planner", config={"model": "clf", **(planner_config or {})}),
    ])
    app.root = tmp_path
    return app


def make_runtime(app, tmp_path, registry=None):
    registry = registry or Registry(Ledger(tmp_path / "ledger.db"))
    detector = MeanShiftDetector().fit(images(500, seed=1))
    rt = AgentRuntime(app, config={
        "checker": {"detector": detector},
        "improver": {"improve": registry.improve, "find_candidate": registry.find_candidate},
        "planner": {"gate": accuracy_gate, "promote": registry.promote,
                    "rollback": registry.rollback, "champion_version": registry.champion_version},
    }, poll_interval=0.05)
    return rt, registry


def label_everything(app, y_by_prediction_id):
    store = LabelStore(app.state_path / "labels.db")
    oracle = OracleLabeler(y_by_prediction_id)
    for batch in store.batches():
        oracle.label_store(store, batch)
    return store


def test_clean_batches_are_normal_and_drifted_ones_are_filed_for_labeling(tmp_path):
    app = make_app(tmp_path)
    rt, _ = make_runtime(app, tmp_path)
    rt.store.record_predictions("api", images(100, seed=2), [1] * 100)
    rt.store.record_predictions("api", images(50, shift=120, seed=3), [7] * 50)
    rt.run_once()

    checks = rt.history("checker")
    assert [h["decision"] for h in checks] == ["normal", "normal", "alert"]
    alert = checks[-1]
    assert alert["reason"].startswith("drift (meanshift): ")
    assert "/50 samples over threshold" in alert["reason"] and "p=" in alert["reason"]
    assert alert["reason"].endswith("filed for labeling in batch 'checker-101-150'")
    assert {a["actuator"]: a["status"] for a in alert["actions"]} == {"label_request": "done", "notify": "done"}

    labels = LabelStore(app.state_path / "labels.db")
    items = labels.items_of("checker-101-150")
    assert len(items) == 5
    assert all(101 <= it.meta["prediction_id"] <= 150 for it in items)
    assert all(it.model_guess == 7 for it in items)
    assert [h["decision"] for h in rt.history("improver")] == ["normal", "normal", "alert"]


def test_tracker_counts_over_its_window_not_all_time(tmp_path):
    app = make_app(tmp_path, tracker_config={"max_outlier_rate": 0.5})
    rt, _ = make_runtime(app, tmp_path)
    # 300 predictions the serving layer flagged as outliers, then 100 clean ones.
    rt.store.record_predictions("api", None, [0] * 300, is_outlier=[True] * 300)
    rt.store.record_predictions("api", None, [0] * 100, is_outlier=[False] * 100)
    StateStore(rt.store.url).set_paused("checker", True)  # no inputs stored: keep the checker out
    rt.run_once()
    track = rt.history("tracker")
    assert [h["decision"] for h in track] == ["alert"] * 6 + ["normal", "normal"]
    last = track[-1]
    # All-time the rate would be 300/400 = 0.75 (> 0.5); over the window of 100 it is 0.
    assert last["inputs"]["window"]["count"] == 100
    assert last["inputs"]["window"]["outlier_rate"] == 0.0
    assert "over the last 100 predictions" in last["reason"]


def test_labels_arriving_start_an_improvement_that_the_planner_promotes(tmp_path):
    app = make_app(tmp_path)
    rt, registry = make_runtime(app, tmp_path)
    rt.store.record_predictions("api", images(50, shift=120, seed=3), [7] * 50)
    rt.run_once()
    label_everything(app, np.arange(200) % 10)
    rt.run_once()

    improve = [h for h in rt.history("improver") if h["rule"] == "improve"]
    assert [h["decision"] for h in improve] == ["improve"]
    assert "labeling batch 'checker-1-50' finished" in improve[0]["reason"]
    gate = rt.history("planner")
    assert [(h["rule"], h["decision"]) for h in gate] == [("gate", "promote")]
    assert gate[0]["reason"] == "accuracy 0.810 > champion 0.800 -> promote clf v1"
    assert registry.champion_version("clf") == "1"
    assert [k for k, _, _ in registry.ledger.rows()] == ["version", "promote"]


def test_planner_asks_a_person_when_approval_is_required(tmp_path):
    app = make_app(tmp_path, planner_config={"approval_required": True})
    rt, registry = make_runtime(app, tmp_path)
    rt.store.record_predictions("api", images(50, shift=120, seed=3), [7] * 50)
    rt.run_once()
    label_everything(app, np.arange(200) % 10)
    rt.run_once()
    assert [h["decision"] for h in rt.history("planner")] == ["await_approval"]
    assert registry.champion_version("clf") is None
    [pending] = rt.store.approvals(status="pending")
    assert pending.subject["candidate"]["version"] == "1"

    rt.store.decide_approval(pending.id, True, by="ana", note="looks good")
    rt.run_once()
    assert [h["decision"] for h in rt.history("planner")] == ["await_approval", "promote"]
    assert rt.history("planner")[-1]["reason"].startswith(f"ana approved (#{pending.id})")
    assert registry.champion_version("clf") == "1"
    with pytest.raises(ValueError, match="already approved"):
        rt.store.decide_approval(pending.id, False)


def test_planner_rolls_back_when_confidence_drops_after_a_promotion(tmp_path):
    app = make_app(tmp_path, planner_config={"watch_batches": 2, "rollback_tolerance": 0.05})
    rt, registry = make_runtime(app, tmp_path)
    registry.promote("clf", "0")
    rt.store.record_predictions("api", images(50, seed=2), [1] * 50, confidences=[0.9] * 50)
    rt.run_once()  # the planner remembers confidence 0.9 before any promotion
    rt.send("planner", "model.candidate", {"model": "clf", "version": "1",
                                            "metrics": {"accuracy": 0.9}, "baseline_metrics": {"accuracy": 0.8}},
            key="candidate-1")
    rt.run_once()
    assert registry.champion_version("clf") == "1"
    rt.store.record_predictions("api", images(50, seed=4), [1] * 50, confidences=[0.6] * 50)
    rt.run_once()

    planner = rt.history("planner")
    assert [h["decision"] for h in planner] == ["promote", "rollback"]
    assert planner[-1]["reason"] == ("mean_confidence 0.6 after promoting v1 is worse than 0.9 before "
                                     "by more than 0.05 -> roll back clf")
    assert registry.champion_version("clf") == "0"


def test_unknown_config_key_names_the_agent_and_the_likely_fix(tmp_path):
    app = make_app(tmp_path)
    app.agents[1].config["budjet"] = 3
    with pytest.raises(ValueError, match=r"agent 'checker' \(checker\): unknown config key 'budjet': "
                                         r"did you mean 'budget'\?"):
        AgentRuntime(app)

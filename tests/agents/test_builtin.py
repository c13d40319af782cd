"""The four built-in agents together, on the real runtime and store, with small real stand-ins
for the detector and the model registry (tests/agents/agent_fakes.py)."""

from __future__ import annotations

import numpy as np
import pytest
from agent_fakes import Ledger, MeanShiftDetector, Registry, accuracy_gate, images

from scanflow.agents import AgentConfigError, AgentRuntime, EpisodeStore, StateStore
from scanflow.app import Agent, Application
from scanflow.improve.labelers import OracleLabeler
from scanflow.improve.labels import LabelStore


def make_app(tmp_path, planner_config=None, tracker_config=None, improver_config=None) -> Application:
    app = Application(name="loop", state_dir=str(tmp_path / "state"), agents=[
        Agent(name="tracker", kind="tracker", talks_to=["checker", "planner"],
              config={"batch_size": 50, "window": 100, **(tracker_config or {})}),
        Agent(name="checker", kind="checker", talks_to=["improver"], config={"settle": False}),
        Agent(name="improver", kind="improver", talks_to=["planner"],
              config={"first_round": 5, "round_labels": 5, "label_budget": 15, "zero_label": "off",
                      **(improver_config or {})}),
        Agent(name="planner", kind="planner", config={"model": "clf", **(planner_config or {})}),
    ])
    app.root = tmp_path
    return app


def make_runtime(app, tmp_path, registry=None):
    registry = registry or Registry(Ledger(tmp_path / "ledger.db"))
    detector = MeanShiftDetector().fit(images(500, seed=1))
    rt = AgentRuntime(app, config={
        "checker": {"detector": detector},
        "improver": {"improvement": registry},
        "planner": {"gate": accuracy_gate},
    }, services={"registry": registry}, poll_interval=0.05)
    return rt, registry


def label_everything(app, y_by_prediction_id):
    store = LabelStore(app.state_path / "labels.db")
    oracle = OracleLabeler(y_by_prediction_id)
    for batch in store.batches():
        oracle.label_store(store, batch)
    return store


def test_a_drifted_batch_opens_an_episode_and_the_improver_asks_for_the_first_labels(tmp_path):
    app = make_app(tmp_path)
    rt, _ = make_runtime(app, tmp_path)
    rt.store.record_predictions("api", images(100, seed=2), [1] * 100)
    rt.store.record_predictions("api", images(50, shift=120, seed=3), [7] * 50)
    rt.run_once()

    checks = rt.history("checker")
    assert [h["decision"] for h in checks] == ["normal", "normal", "alert"]
    assert checks[-1]["reason"].startswith("drift (meanshift): ")
    assert checks[-1]["reason"].endswith("50 samples open a drift episode")
    [episode] = EpisodeStore(rt.store).list()
    assert episode.status == "open" and episode.model == "loop"
    assert EpisodeStore(rt.store).pool(episode.id) == list(range(101, 151))

    improver = rt.history("improver")
    assert [h["decision"] for h in improver] == ["normal", "normal", "respond"]
    items = LabelStore(app.state_path / "labels.db").items_of(f"episode-{episode.id}-r1")
    assert len(items) == 5  # the first round, chosen from the whole pool
    assert all(101 <= it.meta["prediction_id"] <= 150 for it in items)


def test_more_drift_joins_the_open_episode_instead_of_asking_for_more_labels(tmp_path):
    app = make_app(tmp_path)
    rt, _ = make_runtime(app, tmp_path)
    for seed in range(3, 7):
        rt.store.record_predictions("api", images(50, shift=120, seed=seed), [7] * 50)
    rt.run_once()
    [episode] = EpisodeStore(rt.store).list()
    assert len(EpisodeStore(rt.store).pool(episode.id)) == 200
    # the joins are silent for the improver: it is already waiting for the first round's labels
    assert [h["decision"] for h in rt.history("improver")] == ["respond"]
    assert LabelStore(app.state_path / "labels.db").progress()["total"] == 5


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


def test_rounds_of_labels_until_a_final_candidate_is_promoted_within_the_budget(tmp_path):
    app = make_app(tmp_path)
    rt, registry = make_runtime(app, tmp_path, Registry(Ledger(tmp_path / "ledger.db"), rounds=3))
    rt.store.record_predictions("api", images(100, shift=120, seed=3), [7] * 100)
    for _ in range(4):
        rt.run_once()
        label_everything(app, np.arange(200) % 10)
    rt.run_once()

    improve = [h for h in rt.history("improver") if h["rule"] == "improve"]
    assert [h["reason"].split(" ->")[0] for h in improve] == [
        f"labeling round {r} of episode 1 finished (episode-1-r{r})" for r in (1, 2, 3)]
    assert [h["decision"] for h in rt.history("improver") if h["rule"] == "next"] == [
        "next_round", "next_round", "done"]
    assert [h["decision"] for h in rt.history("planner")] == ["promote"] * 3
    assert rt.history("planner")[-1]["reason"] == (
        "accuracy 0.830 > champion 0.820 -> promote clf v3 (final for episode 1)")
    assert registry.champion_version("clf") == "3"
    assert LabelStore(app.state_path / "labels.db").progress()["labeled"] == 15  # the budget


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
    app.agents[2].config["label_budjet"] = 3
    with pytest.raises(AgentConfigError, match=r"agent 'improver' \(improver\): unknown config key "
                                               r"'label_budjet': did you mean 'label_budget'\?"):
        AgentRuntime(app)


def test_a_missing_setting_fails_when_the_agent_starts_not_at_the_first_drift(tmp_path):
    app = make_app(tmp_path)
    with pytest.raises(AgentConfigError, match=r"config.train_data: the built-in strategies replay"):
        AgentRuntime(app, config={"checker": {"detector": MeanShiftDetector().fit(images(50))}})
    with pytest.raises(AgentConfigError, match=r"agent 'checker' \(checker\): config.detector"):
        AgentRuntime(app, config={"improver": {"improvement": object()}})

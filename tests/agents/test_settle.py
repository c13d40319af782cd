"""The loop settles: once a promoted model handles a shift, the checker stops alarming on it and
the improver asks for no more labels; a different shift opens a new episode; clean data opens
none. Real runtime, state database, label store and detectors (PCA base, autoencoder accepted
references), on a small table; the registry is the small real stand-in of agent_fakes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from agent_fakes import Ledger, Registry, accuracy_gate

from scanflow.agents import AgentRuntime, EpisodeStore
from scanflow.app import Agent, Application
from scanflow.check import get_detector
from scanflow.improve.labelers import OracleLabeler
from scanflow.improve.labels import LabelStore

torch = pytest.importorskip("torch")

COLS = [f"f{i}" for i in range(6)]


def rows(n: int, seed: int, shift: str | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    X[:, 1] = X[:, 0] + 0.3 * X[:, 1]  # correlated, as real features are
    if shift == "A":
        X[:, 0] += 4.0
    elif shift == "B":
        X[:, 3] = X[:, 3] * 4.0 - 5.0
    return pd.DataFrame(X, columns=COLS)


@pytest.fixture
def loop(tmp_path):
    app = Application(name="settle", state_dir=str(tmp_path / "state"), agents=[
        Agent(name="tracker", kind="tracker", talks_to=["checker"], config={"batch_size": 100}),
        Agent(name="checker", kind="checker", talks_to=["improver"]),
        Agent(name="improver", kind="improver", talks_to=["planner"],
              config={"first_round": 10, "label_budget": 30, "zero_label": "off"}),
        Agent(name="planner", kind="planner", config={"model": "clf"}),
    ])
    app.root = tmp_path
    registry = Registry(Ledger(tmp_path / "ledger.db"), rounds=1)  # final at the first round
    detector = get_detector("pca", n_components=3).fit(rows(2000, seed=1))
    rt = AgentRuntime(app, config={"checker": {"detector": detector},
                                   "improver": {"improvement": registry},
                                   "planner": {"gate": accuracy_gate}},
                      services={"registry": registry}, poll_interval=0.05)
    labels = LabelStore(app.state_path / "labels.db")

    def feed(frame: pd.DataFrame) -> None:
        rt.store.record_predictions("api", frame, [1] * len(frame))
        for _ in range(3):
            rt.run_once()
            for batch in labels.batches():
                OracleLabeler(np.ones(100_000, int)).label_store(labels, batch)
        rt.run_once()

    return rt, feed, labels


def _alerts(rt) -> int:
    return sum(d["decision"] == "alert" for d in rt.history("checker", limit=500))


def test_after_a_final_promotion_the_shift_raises_no_alarm_and_asks_for_no_label(loop):
    rt, feed, labels = loop
    feed(rows(200, seed=2))
    assert _alerts(rt) == 0
    feed(rows(200, seed=3, shift="A"))
    [episode] = EpisodeStore(rt.store).list()
    assert episode.status in ("settling", "resolved")  # promoted as final, then settled
    asked, alerts = labels.progress()["total"], _alerts(rt)
    for seed in range(4, 8):
        feed(rows(100, seed=seed, shift="A"))  # the same shift goes on
    assert _alerts(rt) == alerts and labels.progress()["total"] == asked
    assert EpisodeStore(rt.store).get(episode.id).status == "resolved"
    decisions = [d["decision"] for d in rt.history("checker", limit=500)]
    assert "settle" in decisions and "resolve" in decisions


def test_a_new_kind_of_shift_opens_a_new_episode_and_clean_data_none(loop):
    rt, feed, labels = loop
    feed(rows(200, seed=3, shift="A"))
    for seed in range(4, 6):
        feed(rows(100, seed=seed, shift="A"))
    feed(rows(200, seed=9, shift="B"))
    episodes = sorted(EpisodeStore(rt.store).list(), key=lambda e: e.id)
    assert len(episodes) == 2 and episodes[1].status in ("open", "settling", "resolved")
    for seed in range(10, 12):
        feed(rows(100, seed=seed, shift="B"))
    before = (len(EpisodeStore(rt.store).list()), labels.progress()["total"])
    for seed in range(20, 24):
        feed(rows(100, seed=seed))  # back to clean data
    assert (len(EpisodeStore(rt.store).list()), labels.progress()["total"]) == before


class ZeroLabelRegistry(Registry):
    """The fake registry with a zero-label method: a new version made without labels."""

    def zero_label(self, episode: int, key: str) -> dict:
        found = self.find(key)
        if found is None:
            found = {"model": self.model, "version": str(len(self._versions()) + 1),
                     "made_by": "zero-label:align", "run_id": None}
            self.ledger.add("version", key, found)
        return found


@pytest.fixture
def approval_loop(tmp_path):
    app = Application(name="approve", state_dir=str(tmp_path / "state"), agents=[
        Agent(name="tracker", kind="tracker", talks_to=["checker"], config={"batch_size": 100}),
        Agent(name="checker", kind="checker", talks_to=["improver"]),
        Agent(name="improver", kind="improver", talks_to=["planner"],
              config={"first_round": 10, "label_budget": 30, "zero_label_approval": True}),
        Agent(name="planner", kind="planner", config={"model": "clf"}),
    ])
    app.root = tmp_path
    registry = ZeroLabelRegistry(Ledger(tmp_path / "ledger.db"), rounds=1)
    detector = get_detector("pca", n_components=3).fit(rows(2000, seed=1))
    rt = AgentRuntime(app, config={"checker": {"detector": detector},
                                   "improver": {"improvement": registry},
                                   "planner": {"gate": accuracy_gate}},
                      services={"registry": registry}, poll_interval=0.05)
    labels = LabelStore(app.state_path / "labels.db")

    def feed(frame: pd.DataFrame) -> None:
        rt.store.record_predictions("api", frame, [1] * len(frame))
        for _ in range(3):
            rt.run_once()

    return rt, feed, labels, registry


def test_an_approved_zero_label_candidate_settles_the_episode_without_a_label(approval_loop):
    rt, feed, labels, registry = approval_loop
    feed(rows(200, seed=3, shift="A"))
    [pending] = rt.store.approvals(status="pending")
    assert pending.subject["candidate"]["zero_label"] and labels.progress()["total"] == 0
    rt.store.decide_approval(pending.id, True, by="ana")
    for seed in range(4, 8):
        feed(rows(100, seed=seed, shift="A"))
    [episode] = EpisodeStore(rt.store).list()
    assert episode.status == "resolved" and labels.progress()["total"] == 0
    assert registry.champion_version("clf") == pending.subject["candidate"]["version"]


def test_a_turned_down_zero_label_candidate_asks_for_the_first_labels(approval_loop):
    rt, feed, labels, registry = approval_loop
    feed(rows(200, seed=3, shift="A"))
    [pending] = rt.store.approvals(status="pending")
    rt.store.decide_approval(pending.id, False, by="ana", note="looks wrong")
    feed(rows(100, seed=4, shift="A"))
    assert labels.progress()["total"] == 10 and registry.champion_version("clf") is None
    [episode] = EpisodeStore(rt.store).list()
    assert [e["event"] for e in episode.info["events"]] == ["opened", "rejected"]


def _decide(cfg_overrides, p_values, tmp_path):
    """The checker's episode decisions for batches whose detector answers the given p-values
    (``None``: no drift), through the real runtime and state database."""
    from scanflow.check import CheckResult

    answers = iter(p_values)

    def detector(X):
        p = next(answers)
        return CheckResult(is_drift=p is not None, p_value=p, score=0.0, threshold=0.05,
                           n_samples=len(X), detector="scripted")

    app = Application(name="confirm", state_dir=str(tmp_path / "state"), agents=[
        Agent(name="checker", kind="checker", config={"model": "clf", **cfg_overrides})])
    rt = AgentRuntime(app, config={"checker": {"detector": detector}}, poll_interval=0.05)
    for seed, _ in enumerate(p_values):
        ids = rt.store.record_predictions("api", rows(100, seed=seed), [1] * 100)
        rt.send("checker", "predictions.batch", {"first_id": ids[0], "last_id": ids[-1], "count": 100},
                key=f"batch-{seed}")
        rt.run_once()
    return [d["decision"] for d in rt.history("checker", limit=500)], rt


def test_one_marginal_alarm_opens_no_episode_two_in_a_row_do(tmp_path):
    decisions, rt = _decide({}, [None, 1e-4, None, 1e-4, 1e-4], tmp_path)
    assert decisions == ["normal", "watch", "normal", "watch", "alert"]
    assert len(EpisodeStore(rt.store).list()) == 1


def test_overwhelming_evidence_opens_an_episode_at_its_first_batch(tmp_path):
    decisions, rt = _decide({}, [1e-40], tmp_path)
    assert decisions == ["alert"] and len(EpisodeStore(rt.store).list()) == 1
    decisions, _ = _decide({"confirm_after": 1}, [1e-3], tmp_path / "once")
    assert decisions == ["alert"]

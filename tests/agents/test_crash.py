"""Crash test: SIGKILL the agents' process at random points mid-loop, restart it, and check that
every action happened exactly once and no message was lost.

The agents run in a real subprocess (``crash_agents.py``) against a SQLite state database. The
side effects go to an external ledger without any unique constraint, so a repeated action would
show up there as a duplicate; a lost message would show up as missing work.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from agent_fakes import Ledger, images

from scanflow.agents import StateStore, default_state_url
from scanflow.improve.labelers import OracleLabeler
from scanflow.improve.labels import LabelStore

HERE = Path(__file__).parent
N_BATCHES, N_DRIFTED, ROUND, ROUNDS = 12, 8, 5, 4
# tracker: a notify per batch; checker: a notify per clean batch, an episode action per drifted
# one (the first opens the episode, the others join it); improver: a labeling round and an
# improvement per round (4 rounds of 5 labels: the budget of 20); planner: a promotion per round.
EXPECTED_ACTIONS = {"notify": N_BATCHES + N_BATCHES - N_DRIFTED, "episode": N_DRIFTED,
                    "request_labels": ROUNDS, "improve": ROUNDS, "promote": ROUNDS,
                    "note": ROUNDS}  # the improver records each promotion in the episode
TOTAL_ACTIONS = sum(EXPECTED_ACTIONS.values())


def spawn(state: Path, log) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(HERE / "crash_agents.py"), str(state)],
                            stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    line = proc.stdout.readline()
    assert line.strip() == "agents running", f"the agents process did not start: {line!r}"
    return proc


def label_new_batches(labels: LabelStore, oracle: OracleLabeler) -> None:
    for batch, counts in labels.batch_progress().items():
        if counts["pending"]:
            oracle.label_store(labels, batch)


def action_counts(store: StateStore) -> Counter:
    return Counter(a.status for a in store.actions())


def test_sigkill_mid_loop_loses_no_message_and_repeats_no_action(tmp_path):
    seed = int(os.environ.get("SCANFLOW_CRASH_SEED", time.time_ns() % 10**6))
    rng = random.Random(seed)
    state = tmp_path / "state"
    store = StateStore(default_state_url(state))
    X = np.concatenate([images(50 * (N_BATCHES - N_DRIFTED), seed=2),
                        images(50 * N_DRIFTED, shift=120, seed=3)])
    store.record_predictions("api", X, [int(i % 10) for i in range(len(X))])
    labels = LabelStore(state / "labels.db")
    oracle = OracleLabeler(np.arange(len(X) + 1) % 10)
    log = open(tmp_path / "agents.log", "w")

    kills = []
    for target in sorted(rng.sample(range(2, TOTAL_ACTIONS - 2), 3)):
        proc = spawn(state, log)
        deadline = time.time() + 30
        while action_counts(store)["done"] < target:
            assert time.time() < deadline, f"no progress to {target} actions (seed {seed}): see {log.name}"
            assert proc.poll() is None, f"the agents process died (seed {seed}): see {log.name}"
            label_new_batches(labels, oracle)
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.05))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        counts = action_counts(store)
        kills.append((counts["done"], counts["started"]))

    proc = spawn(state, log)
    deadline = time.time() + 60
    while True:
        label_new_batches(labels, oracle)
        counts = action_counts(store)
        if counts["done"] == TOTAL_ACTIONS and store.count_messages() == 0:
            break
        assert time.time() < deadline, (f"unfinished after restart (seed {seed}): {dict(counts)}, "
                                        f"{store.count_messages()} messages waiting; see {log.name}")
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    log.close()
    print(f"seed {seed}: killed at (done, started) = {kills}")

    # Every kill came mid-loop: some actions done, not all.
    assert all(0 < done < TOTAL_ACTIONS for done, _ in kills)
    # The action log: each action once, all done.
    actions = store.actions()
    assert Counter(a.actuator for a in actions) == EXPECTED_ACTIONS
    assert {a.status for a in actions} == {"done"}
    # The outside world saw each effect once: one model version per improvement key, one
    # promotion per version, one labeling batch per round with ROUND samples never asked twice.
    ledger = Ledger(tmp_path / "ledger.db")
    versions = ledger.rows("version")
    assert len(versions) == len({key for _, key, _ in versions}) == ROUNDS
    promotions = [d["to"] for _, _, d in ledger.rows("promote")]
    assert sorted(promotions, key=int) == [str(i) for i in range(1, ROUNDS + 1)]
    assert ledger.rows("rollback") == []
    batches = labels.batch_progress()
    assert sorted(batches) == [f"episode-1-r{r}" for r in range(1, ROUNDS + 1)]
    asked = [it.meta["prediction_id"] for b in batches for it in labels.items_of(b)]
    assert len(asked) == len(set(asked)) == ROUND * ROUNDS
    # No message lost or stuck: every one handled, and each produced its decisions once.
    messages = store.messages(limit=10_000)
    assert {m.status for m in messages} == {"handled"}
    kinds = Counter(m.kind for m in messages)
    assert kinds == {"sensor.predictions": N_BATCHES, "predictions.batch": N_BATCHES,
                     "check.report": N_BATCHES, "sensor.labels": ROUNDS,
                     "model.candidate": ROUNDS, "model.promoted": 2 * ROUNDS}
    decisions = Counter((d.agent, d.decision) for d in store.decisions(limit=10_000))
    assert decisions == {("tracker", "normal"): N_BATCHES,
                         ("checker", "normal"): N_BATCHES - N_DRIFTED, ("checker", "alert"): N_DRIFTED,
                         ("checker", "keep"): 1,  # the final promotion (settling is off here)
                         ("improver", "normal"): N_BATCHES - N_DRIFTED, ("improver", "respond"): 1,
                         ("improver", "improve"): ROUNDS,
                         ("improver", "next_round"): ROUNDS - 1, ("improver", "done"): 1,
                         ("planner", "promote"): ROUNDS}

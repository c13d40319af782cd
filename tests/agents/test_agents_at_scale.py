"""Agents at scale on PostgreSQL: 4 models, each with a tracker, checker, improver and planner,
every agent run by 2 processes at once (8 agent instances per model, 32 in all), one database.

The agents contend for the same work: both replicas of an agent see its inbox, the trackers
read one prediction log that 4 feeders write at once, 2 labelers answer the same labeling
batches through the label store. Nothing may be lost (every message handled, every expected
action done, every requested label answered) and nothing done twice (a message handled by one
process only, each action run once, one model version per improvement, one promotion per
decision, one labeling batch per round, no sample asked for twice). The scenario and its
counting live in ``scale_agents.py`` (shared with ``benchmarks/agents_at_scale.py``).
"""

from __future__ import annotations

import pytest
from scale_agents import ROUNDS, Scenario, expected_actions, expected_decisions, run_scenario, tally

pytest_plugins = ["_postgres"]

MODELS, PROCESSES, BATCHES, DRIFTED = 4, 2, 10, 6


@pytest.mark.e2e
def test_two_replicas_of_every_agent_of_four_models_lose_nothing_and_repeat_nothing(
        postgres_url, tmp_path):
    s = run_scenario(Scenario(postgres_url, tmp_path, models=MODELS, processes=PROCESSES,
                              batches=BATCHES, drifted=DRIFTED, timeout=150))
    counts = tally(s)
    print({m: {k: c[k] for k in ("agents", "events", "actions", "duplicates", "lost")}
           for m, c in counts.items()}, f"in {s.elapsed:.1f}s")
    assert sorted(counts) == ["m1", "m2", "m3", "m4"]
    for model, c in counts.items():
        assert c["duplicate_detail"] == dict.fromkeys(c["duplicate_detail"], 0), model
        assert c["lost_detail"] == dict.fromkeys(c["lost_detail"], 0), model
        assert c["done"] == expected_actions(BATCHES, DRIFTED), model
        assert c["decisions"] == expected_decisions(BATCHES, DRIFTED), model
        # One episode per model, its rounds filed once each, promoted round by round.
        assert len(c["episodes"]) == 1, model
        assert c["batches"] == [f"episode-{c['episodes'][0]}-r{r}" for r in range(1, ROUNDS + 1)]
        assert c["promotions"] == [str(v) for v in range(1, ROUNDS + 1)], model
        assert c["message_kinds"] == {"sensor.predictions": BATCHES, "predictions.batch": BATCHES,
                                      "check.report": BATCHES,
                                      # every improver hears each model's finished rounds
                                      "sensor.labels": ROUNDS * MODELS,
                                      "model.candidate": ROUNDS, "model.promoted": 2 * ROUNDS}, model
    # The replicas really shared the work: both processes handled messages.
    assert all(sum(c.values()) > 0 for c in s.handled_by_process), s.handled_by_process

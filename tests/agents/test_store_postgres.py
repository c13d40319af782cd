"""The agents' state database on a real PostgreSQL server: concurrent writers and durability.

The single-client behaviours (idempotent messages, decisions, actions, approvals, predictions,
pause state) run on PostgreSQL too: tests/agents/test_store.py parametrises them over SQLite and
PostgreSQL. These add what only several connections at once show (lost updates, racing
idempotency keys), on both back-ends through ``store_url``, plus PostgreSQL-only checks. The
PostgreSQL cases are skipped without ``$SCANFLOW_TEST_POSTGRES_URL`` (see tests/_postgres.py).
"""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa

from _postgres import run_threads as _run_threads
from scanflow.agents.store import OutgoingMessage, StateStore
from scanflow.improve.labels import LabelStore

pytest_plugins = ["_postgres"]


def _fresh_connection_count(url: str, table: str) -> int:
    with sa.create_engine(url, poolclass=sa.pool.NullPool).connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_three_senders_racing_on_the_same_keys_store_each_message_once(store_url):
    store = StateStore(store_url)
    keys = [f"k{i}" for i in range(25)]
    results: dict[str, list[tuple[int, bool]]] = {f"s{i}": [] for i in range(3)}

    def sender(name):
        for k in keys:
            results[name].append(store.send(k, name, "inbox", "note", {"from": name}))

    _run_threads(sender, list(results))
    for i, _ in enumerate(keys):
        answers = [results[n][i] for n in results]
        assert len({mid for mid, _ in answers}) == 1  # everybody got the one stored id
        assert sum(created for _, created in answers) == 1  # and exactly one created it
    inbox = store.inbox("inbox")
    assert [m.key for m in inbox] == keys
    assert _fresh_connection_count(store_url, "scanflow_agent_messages") == 25
    # The stored payload is the creator's.
    creators = {k: next(n for n in results if results[n][i][1]) for i, k in enumerate(keys)}
    assert {m.key: m.payload["from"] for m in inbox} == creators


def test_sensors_firing_for_one_agent_at_once_keep_every_cursor(store_url):
    store = StateStore(store_url)
    sensors = [f"sensor{i}" for i in range(3)]

    def fire(sensor):
        for slot in range(10):
            assert store.fire(
                "watcher", sensor, slot, f"watcher/{sensor}/{slot}", "tick", {"slot": slot}
            )

    _run_threads(fire, sensors)
    # Each commit read-modify-writes the agent's cursor dict: none may be lost to a race.
    assert StateStore(store_url).cursors("watcher") == {s: 9 for s in sensors}
    assert store.count_messages(["watcher"]) == 30


def test_a_message_s_life_decisions_and_actions_survive_a_new_store(store_url):
    store = StateStore(store_url)
    mid, created = store.send("m1", "sensor", "planner", "drift", {"score": np.float32(0.75)})
    assert created
    store.mark_delivered(mid)
    d = store.record_decision(
        "m1/retrain",
        "planner",
        "m1",
        "retrain",
        "act",
        "drift 0.75",
        {"score": 0.75},
        [{"actuator": "train"}],
        {"seen": 1},
    )
    store.start_action("m1/retrain/0", "planner", d.key, "train", {"epochs": 1})
    store.start_action("m1/retrain/0", "planner", d.key, "train", {"epochs": 1})  # a retry
    store.note_action("m1/retrain/0", {"run_id": "r1"})
    assert store.finish_action(
        "m1/retrain/0",
        "planner",
        {"accuracy": 0.9},
        [OutgoingMessage("deployer", "model.ready", {"v": 2})],
    )
    store.mark_handled(mid, "planner", {"seen": 1})
    store.set_paused("planner", True)

    again = StateStore(store_url)  # a restarted service
    [msg] = again.messages("sensor")
    assert (msg.status, msg.attempts, msg.payload) == ("handled", 1, {"score": 0.75})
    assert again.decision("m1/retrain").reason == "drift 0.75"
    act = again.action("m1/retrain/0")
    assert (act.status, act.attempts, act.result) == ("done", 2, {"accuracy": 0.9})
    assert [(m.key, m.payload) for m in again.inbox("deployer")] == [
        ("m1/retrain/0->deployer", {"v": 2})
    ]
    assert again.memory("planner") == {"seen": 1}
    assert again.paused(["planner", "other"]) == {"planner": True, "other": False}
    again.set_paused("planner", False)
    assert store.paused(["planner"]) == {"planner": False}
    assert _fresh_connection_count(store_url, "scanflow_agent_actions") == 1


def test_the_label_store_and_the_state_store_share_one_database(postgres_url):
    labels = LabelStore(postgres_url)
    state = StateStore(postgres_url)
    [iid] = labels.enqueue(np.zeros((1, 4), np.uint8), batch="drift-1")
    state.send("labels/drift-1", "labeler", "planner", "labels.ready", {"item": iid})
    labels.submit(iid, 3, "ana")
    with sa.create_engine(postgres_url, poolclass=sa.pool.NullPool).connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert {
        "scanflow_label_items",
        "scanflow_label_events",
        "scanflow_agent_messages",
        "scanflow_agent_state",
        "scanflow_predictions",
    } <= tables
    assert all(t.startswith("scanflow_") for t in tables)
    assert state.inbox("planner")[0].payload == {"item": iid}
    assert labels.get(iid).label == 3
    labels.close()


def test_an_action_finished_twice_at_once_is_done_once(store_url):
    store = StateStore(store_url)
    keys = [f"m/r/{i}" for i in range(15)]
    for k in keys:
        store.start_action(k, "a", "m/r", "notify", {})
    finished: dict[str, list[bool]] = {"w1": [], "w2": []}

    def finish(name):
        for k in keys:
            finished[name].append(store.finish_action(k, "a", {"by": name}))

    _run_threads(finish, list(finished))
    for i, k in enumerate(keys):
        # "False if already done": exactly one of two racing finishers did it.
        assert sorted([finished["w1"][i], finished["w2"][i]]) == [False, True], k
        winner = "w1" if finished["w1"][i] else "w2"
        assert store.action(k).result == {"by": winner}

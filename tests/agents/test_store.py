"""The state database: idempotent messages, atomic sensor firings, decisions, actions, predictions."""

import numpy as np
import pytest

from scanflow.agents.store import OutgoingMessage, StateStore, default_state_url

# `store_url`: every store test runs on a SQLite file and on PostgreSQL (see tests/_postgres.py).
pytest_plugins = ["_postgres"]


@pytest.fixture
def store(store_url):
    return StateStore(store_url)


def test_default_state_url_is_scanflow_db_in_the_state_directory(tmp_path):
    assert default_state_url(tmp_path / "s") == f"sqlite:///{tmp_path / 's' / 'scanflow.db'}"


def test_bad_state_url_names_the_fix():
    with pytest.raises(ValueError, match="use 'sqlite:///path/to/scanflow.db'"):
        StateStore("scanflow.db")


def test_sending_the_same_key_twice_stores_one_message(store):
    first = store.send("k1", "a", "b", "note", {"x": 1})
    again = store.send("k1", "a", "b", "note", {"x": 2})
    assert first == (first[0], True) and again == (first[0], False)
    [msg] = store.inbox("b")
    assert msg.payload == {"x": 1} and msg.status == "pending"


def test_firing_a_sensor_stores_the_event_and_the_cursor_together(store):
    assert store.fire("a", "tick", 5, "a/tick/5", "sensor.tick", {"slot": 5})
    assert not store.fire("a", "tick", 5, "a/tick/5", "sensor.tick", {"slot": 5})
    assert store.cursors("a") == {"tick": 5}
    assert [m.key for m in store.inbox("a")] == ["a/tick/5"]


def test_the_first_stored_decision_wins(store):
    d1 = store.record_decision("m/r", "a", "m", "r", "alert", "because", {}, [], {"n": 1})
    d2 = store.record_decision("m/r", "a", "m", "r", "normal", "other", {}, [], {})
    assert (d2.id, d2.decision, d2.reason) == (d1.id, "alert", "because")


def test_an_action_is_done_once_with_its_messages(store):
    store.start_action("m/r/0", "a", "m/r", "notify", {})
    assert store.action("m/r/0").status == "started"
    out = [OutgoingMessage("b", "note", {"n": 1})]
    assert store.finish_action("m/r/0", "a", {"ok": True}, out)
    assert not store.finish_action("m/r/0", "a", {"ok": True}, out)
    assert store.action("m/r/0").status == "done"
    assert [(m.sender, m.kind, m.key) for m in store.inbox("b")] == [("a", "note", "m/r/0->b")]


def test_a_person_s_answer_is_committed_with_the_message_to_the_agent(store):
    req = store.request_approval("k", "planner", {"version": 3}, "gate passed")
    assert store.request_approval("k", "planner", {}, "").id == req.id
    store.decide_approval(req.id, True, by="ana")
    [msg] = store.inbox("planner")
    assert msg.kind == "approval.decided" and msg.payload["approved"] is True
    with pytest.raises(KeyError, match="no approval request #99"):
        store.decide_approval(99, True)


def test_predictions_keep_their_inputs_without_pickle(store):
    X = np.arange(3 * 4, dtype=np.float32).reshape(3, 2, 2)
    ids = store.record_predictions("api", X, [0, 1, 2], model="clf", model_version=4,
                                   confidences=[0.5, 0.6, 0.7], is_outlier=[False, True, False])
    assert ids == [1, 2, 3]
    rows = store.predictions_since(1)
    assert [(r.id, r.prediction, r.model_version, r.is_outlier) for r in rows] == [
        (2, 1, "4", True), (3, 2, "4", False)]
    np.testing.assert_array_equal(store.prediction_inputs([3, 1]), X[[2, 0]])
    assert store.last_prediction_id() == 3


def test_prediction_window_by_count_and_by_time(store):
    store.record_predictions("api", None, [0] * 3, created_at=100.0)
    store.record_predictions("api", None, [0] * 2, created_at=200.0)
    assert [r.id for r in store.prediction_window(5, size=2)] == [4, 5]
    assert [r.id for r in store.prediction_window(5, seconds=50)] == [4, 5]
    assert [r.id for r in store.prediction_window(3, seconds=500)] == [1, 2, 3]


def test_mismatched_prediction_lengths_are_refused(store):
    with pytest.raises(ValueError, match="inputs has 2 samples but predictions has 3"):
        store.record_predictions("api", np.zeros((2, 3)), [1, 2, 3])
    with pytest.raises(ValueError, match="confidences has 1 values"):
        store.record_predictions("api", None, [1, 2], confidences=[0.3])


def test_missing_inputs_name_the_fix(store):
    store.record_predictions("api", None, [1])
    with pytest.raises(KeyError, match="pass `inputs` to record_predictions"):
        store.prediction_inputs([1])


def test_pause_state_survives_a_new_store_object(store):
    store.set_paused("a", True)
    assert StateStore(store.url).paused(["a", "b"]) == {"a": True, "b": False}


def test_each_concern_is_a_small_store_on_the_facade_s_database(store):
    from scanflow.agents.store import AgentStateStore, Approvals, DecisionLog, Outbox

    Outbox(store.db).send("k", "a", "b", "note", {"n": 1})
    AgentStateStore(store.db).set_paused("b", True)
    DecisionLog(store.url).record_decision("k/r", "b", "k", "r", "act", "why", {}, [], {})
    Approvals(store.url).request_approval("ask", "b", {"v": 1}, "gate passed")
    assert [m.key for m in store.inbox("b")] == ["k"] and store.paused(["b"]) == {"b": True}
    assert store.decision("k/r").reason == "why" and store.approvals()[0].key == "ask"
    assert DecisionLog(store.url).db is store.db  # one set of engines per database and process


def test_agents_read_predictions_from_the_prediction_log_of_the_state_database(store):
    from scanflow.agents.services import AgentServices
    from scanflow.track import PredictionLog

    log = AgentServices.for_app(None, store).predictions
    assert log.record_predictions("api", None, [3]) == [1]
    assert isinstance(store.predictions, PredictionLog) and store.predictions.db is store.db
    assert [p.prediction for p in store.predictions_since(0)] == [3]

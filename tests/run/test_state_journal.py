"""The run state on disk: a snapshot plus a journal of node changes, replayed on load."""

from __future__ import annotations

from scanflow.run.state import RunState


def test_node_changes_are_seen_by_a_reader_before_the_next_snapshot(tmp_path):
    state = RunState.create(tmp_path, "run1")
    state.update_node("wf/a", status="running", pid=123)
    state.update_node("wf/a", status="succeeded", pid=None)
    loaded = RunState.load(state.folder)
    assert loaded.node("wf/a")["status"] == "succeeded" and loaded.node("wf/a")["pid"] is None


def test_an_unpersisted_change_is_written_with_the_next_persisted_one(tmp_path):
    state = RunState.create(tmp_path, "run1")
    state.update_node("wf/a", command=["python", "a.py"], persist=False)
    assert "command" not in RunState.load(state.folder).node("wf/a")
    state.update_node("wf/a", pid=7)
    assert RunState.load(state.folder).node("wf/a")["command"] == ["python", "a.py"]


def test_a_journal_line_cut_short_by_a_crash_is_ignored(tmp_path):
    state = RunState.create(tmp_path, "run1")
    state.update_node("wf/a", status="running")
    with open(state.journal_path, "a") as f:
        f.write('{"seq": 99, "node": "wf/a", "set": {"status": "succ')
    assert RunState.load(state.folder).node("wf/a")["status"] == "running"


def test_a_snapshot_wins_over_older_journal_lines(tmp_path):
    state = RunState.create(tmp_path, "run1")
    state.update_node("wf/a", status="running")
    stale = state.journal_path.read_text()
    state.update(status="succeeded")  # a snapshot: the journal is folded in and removed
    state.update_node("wf/a", status="succeeded", persist=False)
    state.save()
    state.journal_path.write_text(stale)  # as if a crash left it behind
    assert RunState.load(state.folder).node("wf/a")["status"] == "succeeded"

"""Scheduler logic on the in-memory backend: order, parallelism, failures, retries, cache, resume."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from scanflow.app import Application, Executor, Workflow
from scanflow.run import InMemoryBackend, RunError, Scheduler, list_runs, run_workflow


def _app(tmp_path, nodes, **wf):
    return Application(name="demo", state_dir=str(tmp_path / "state"),
                       workflows=[Workflow(name="main", nodes=nodes, **wf)])


def _node(name, deps=(), **kw):
    return Executor(name=name, callable="tests:unused", depends_on=list(deps), **kw)


def _run(app, functions, **kw):
    backend = InMemoryBackend(functions)
    kw.setdefault("track", False)
    return run_workflow(app, backend=backend, **kw), backend


def test_nodes_run_after_their_dependencies(tmp_path):
    app = _app(tmp_path, [_node("a"), _node("b", ["a"]), _node("c", ["b"])])
    result, backend = _run(app, {n: (lambda: None) for n in "abc"})
    assert result.ok
    assert backend.calls == ["main/a", "main/b", "main/c"]


def test_independent_branches_run_in_parallel(tmp_path):
    barrier = threading.Barrier(2, timeout=10)  # breaks unless both branches run at once
    app = _app(tmp_path, [_node("a"), _node("left", ["a"]), _node("right", ["a"])])
    result, _ = _run(app, {"a": lambda: None, "left": barrier.wait, "right": barrier.wait}, max_parallel=2)
    assert result.statuses == {"main/a": "succeeded", "main/left": "succeeded", "main/right": "succeeded"}


def test_max_parallel_one_runs_nodes_one_at_a_time(tmp_path):
    running, peak, lock = [0], [0], threading.Lock()

    def work():
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1

    app = _app(tmp_path, [_node(n) for n in "abcd"])
    result, _ = _run(app, {n: work for n in "abcd"}, max_parallel=1)
    assert result.ok and peak[0] == 1


def test_parameters_are_passed_as_keyword_arguments(tmp_path):
    seen = {}
    app = _app(tmp_path, [_node("a", parameters={"x": 3, "name": "q"})])
    _run(app, {"a": lambda x, name: seen.update(x=x, name=name)})
    assert seen == {"x": 3, "name": "q"}


def test_a_failure_skips_downstream_nodes_but_not_independent_ones(tmp_path):
    def boom():
        raise ValueError("bad input")

    app = _app(tmp_path, [_node("a"), _node("bad", ["a"]), _node("after", ["bad"]), _node("other", ["a"])])
    result, _ = _run(app, {"a": lambda: 1, "bad": boom, "after": lambda: 1, "other": lambda: 1})
    assert result.status == "failed"
    assert result.statuses == {"main/a": "succeeded", "main/bad": "failed", "main/after": "skipped",
                               "main/other": "succeeded"}
    assert "ValueError: bad input" in result.nodes["main/bad"].error
    assert "bad input" in result.nodes["main/bad"].stderr.read_text()
    assert result.resume_command.endswith(f"--resume {result.run_id}")


def test_a_node_that_fails_twice_then_succeeds_is_retried(tmp_path):
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError(f"transient {len(calls)}")

    app = _app(tmp_path, [_node("flaky", retries=2, retry_backoff=0)])
    events = []
    result, _ = _run(app, {"flaky": flaky}, progress=events.append)
    assert result.ok and result.nodes["main/flaky"].attempts == 3
    assert [e.attempt for e in events if e.kind == "retry"] == [2, 3]


def test_retries_run_out(tmp_path):
    app = _app(tmp_path, [_node("flaky", retries=1, retry_backoff=0)])
    result, backend = _run(app, {"flaky": lambda: 1 / 0})
    assert result.statuses == {"main/flaky": "failed"}
    assert backend.calls == ["main/flaky", "main/flaky"]


def test_second_identical_run_is_served_from_the_cache(tmp_path):
    app = _app(tmp_path, [_node("a"), _node("b", ["a"])])
    functions = {"a": lambda: None, "b": lambda: None}
    first, _ = _run(app, functions)
    second, backend = _run(app, functions)
    assert first.statuses == {"main/a": "succeeded", "main/b": "succeeded"}
    assert second.statuses == {"main/a": "cached", "main/b": "cached"}
    assert backend.calls == []
    assert second.nodes["main/b"].cache_key == first.nodes["main/b"].cache_key


def test_no_cache_and_the_per_node_switch_run_nodes_again(tmp_path):
    app = _app(tmp_path, [_node("a"), _node("b", ["a"], cache=False)])
    functions = {"a": lambda: None, "b": lambda: None}
    _run(app, functions)
    again, backend = _run(app, functions)
    assert again.statuses == {"main/a": "cached", "main/b": "succeeded"}
    forced, backend = _run(app, functions, use_cache=False)
    assert backend.calls == ["main/a", "main/b"] and forced.ok


def test_changed_parameters_invalidate_the_node_and_its_downstream(tmp_path):
    functions = {"a": lambda n: None, "b": lambda: None, "c": lambda: None}
    _run(_app(tmp_path, [_node("a", parameters={"n": 1}), _node("b", ["a"]), _node("c")]), functions)
    result, _ = _run(_app(tmp_path, [_node("a", parameters={"n": 2}), _node("b", ["a"]), _node("c")]), functions)
    assert result.statuses == {"main/a": "succeeded", "main/b": "succeeded", "main/c": "cached"}


def test_declared_outputs_are_restored_on_a_cache_hit_and_their_content_keys_downstream(tmp_path):
    def write(task):
        Path(task.env["SCANFLOW_OUTPUT_DIR"], "data.txt").write_text("v1")

    def consume(task):
        assert Path(task.env["SCANFLOW_OUTPUT_DIR"], "data.txt").read_text() == "v1"

    app = _app(tmp_path, [_node("make", outputs=["data.txt"]), _node("use", ["make"])])
    _run(app, {"make": write, "use": consume})
    second, _ = _run(app, {"make": write, "use": consume})
    assert second.statuses == {"main/make": "cached", "main/use": "cached"}
    assert (second.output_dir / "data.txt").read_text() == "v1"  # restored into the new run


def test_missing_declared_output_fails_the_node(tmp_path):
    app = _app(tmp_path, [_node("make", outputs=["model.pt"])])
    result, _ = _run(app, {"make": lambda: None})
    assert result.statuses == {"main/make": "failed"}
    assert "model.pt" in result.nodes["main/make"].error


def test_resume_reruns_only_the_failed_and_downstream_nodes(tmp_path):
    state = {"fixed": False}

    def fragile():
        if not state["fixed"]:
            raise RuntimeError("not yet")

    app = _app(tmp_path, [_node("a"), _node("b", ["a"]), _node("c", ["b"]), _node("d", ["a"])])
    functions = {"a": lambda: None, "b": fragile, "c": lambda: None, "d": lambda: None}
    first, _ = _run(app, functions, use_cache=False)
    assert first.statuses == {"main/a": "succeeded", "main/b": "failed", "main/c": "skipped", "main/d": "succeeded"}
    state["fixed"] = True
    resumed, backend = _run(app, functions, use_cache=False, resume=first.run_id[:8])
    assert resumed.run_id == first.run_id
    assert resumed.statuses == {"main/a": "reused", "main/b": "succeeded", "main/c": "succeeded", "main/d": "reused"}
    assert backend.calls == ["main/b", "main/c"]
    assert resumed.resume_command is None


def test_resume_of_an_unknown_run_says_how_to_list_runs(tmp_path):
    from scanflow.run import RunNotFound

    app = _app(tmp_path, [_node("a")])
    with pytest.raises(RunNotFound, match="scanflow runs"):
        _run(app, {"a": lambda: None}, resume="nope")


def test_cancel_stops_running_nodes_and_records_what_ran(tmp_path):
    started, release = threading.Event(), threading.Event()

    def block():
        started.set()
        release.wait(10)

    app = _app(tmp_path, [_node("a"), _node("slow", ["a"]), _node("later", ["slow"])])
    scheduler = Scheduler(app, InMemoryBackend({"a": lambda: None, "slow": block, "later": lambda: None}),
                          track=False)
    threading.Thread(target=lambda: (started.wait(10), scheduler.cancel()), daemon=True).start()
    result = scheduler.run()
    release.set()
    assert result.status == "cancelled"
    assert result.statuses == {"main/a": "succeeded", "main/slow": "cancelled", "main/later": "pending"}
    assert f"--resume {result.run_id}" in result.resume_command


def test_timeout_is_reported(tmp_path):
    release = threading.Event()
    app = _app(tmp_path, [_node("slow", timeout=0.2)])
    result, _ = _run(app, {"slow": lambda: release.wait(5)})
    release.set()
    assert result.statuses == {"main/slow": "timeout"}


def test_a_running_run_cannot_be_resumed(tmp_path):
    from scanflow.run import RunState

    app = _app(tmp_path, [_node("a")])
    RunState.create(app.state_path, "live-run", workflow=None)  # owned by this (alive) process
    with pytest.raises(RunError, match="still running"):
        _run(app, {"a": lambda: None}, resume="live-run")


def test_the_resume_command_of_a_ray_run_resumes_it_on_the_same_cluster(tmp_path):
    class OnACluster(InMemoryBackend):  # what the command needs of a ray backend: its name and address
        name = "ray"
        address = "ray://head:10001"

    def boom():
        raise ValueError("bad input")

    result = run_workflow(_app(tmp_path, [_node("a")]), backend=OnACluster({"a": boom}), track=False, app_arg="app")
    assert result.resume_command == f"scanflow run app --backend ray --address ray://head:10001 --resume {result.run_id}"


def test_the_backend_connects_before_the_run_is_recorded(tmp_path):
    class Unreachable(InMemoryBackend):
        def open(self):
            raise ConnectionError("no cluster there")

    app = _app(tmp_path, [_node("a")])
    with pytest.raises(ConnectionError, match="no cluster there"):
        run_workflow(app, backend=Unreachable({"a": lambda: 1}), track=False)
    assert list_runs(app.state_path) == []

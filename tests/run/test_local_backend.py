"""The local backend: real subprocesses, logs, exit codes, timeouts and cancels that kill trees."""

from __future__ import annotations

import os
import sys
import textwrap
import threading
import time

import psutil

from scanflow.run import LocalBackend, NodeTask

SPAWNER = textwrap.dedent("""
    import os, subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    escaped = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    with open("pids.txt", "w") as f:
        f.write(f"{os.getpid()} {child.pid} {escaped.pid}")
    print("spawned", flush=True)
    time.sleep(60)
""")


def _task(tmp_path, code, **kw):
    return NodeTask(run_id="r", node_id="wf/n", command=[sys.executable, "-c", code], workdir=tmp_path,
                    env=dict(os.environ, GREETING="hello"), stdout_path=tmp_path / "out.log",
                    stderr_path=tmp_path / "err.log", **kw)


def _pids(tmp_path):
    for _ in range(300):
        if (tmp_path / "pids.txt").is_file() and (tmp_path / "pids.txt").read_text().count(" ") == 2:
            return [int(p) for p in (tmp_path / "pids.txt").read_text().split()]
        time.sleep(0.05)
    raise AssertionError("the node did not start its children")


def _gone(pids):
    for _ in range(100):
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return True
        time.sleep(0.05)
    return False


def test_a_node_runs_in_its_workdir_with_its_environment_and_logs(tmp_path):
    code = "import os, sys; print(os.getcwd(), os.environ['GREETING']); print('oops', file=sys.stderr)"
    result = LocalBackend().run_node(_task(tmp_path, code))
    assert result.ok and result.returncode == 0
    assert (tmp_path / "out.log").read_text().split() == [str(tmp_path), "hello"]
    assert (tmp_path / "err.log").read_text() == "oops\n"


def test_a_nonzero_exit_fails_the_attempt_and_later_attempts_append_to_the_logs(tmp_path):
    backend = LocalBackend()
    first = backend.run_node(_task(tmp_path, "print('one'); raise SystemExit(3)"))
    second = backend.run_node(_task(tmp_path, "print('two')", attempt=2))
    assert (first.status, first.returncode, first.error) == ("failed", 3, "exited with code 3")
    assert second.ok
    log = (tmp_path / "out.log").read_text()
    assert "one" in log and "attempt 2" in log and log.rstrip().endswith("two")


def test_a_missing_program_fails_with_a_clear_error(tmp_path):
    task = _task(tmp_path, "")
    task.command = [str(tmp_path / "no-such-program")]
    result = LocalBackend().run_node(task)
    assert result.status == "failed" and "cannot start" in result.error


def test_a_timeout_kills_the_whole_process_tree(tmp_path):
    started = []
    task = _task(tmp_path, SPAWNER, timeout=1.5, on_start=started.append)
    result = LocalBackend(kill_grace=1).run_node(task)
    assert result.status == "timeout" and "timed out after 1.5 s" in result.error
    assert started and started[0]["pid"] > 0
    assert _gone(_pids(tmp_path))  # the node, its child and the child that left the group


def test_a_cancel_request_stops_the_node_and_its_children(tmp_path):
    task = _task(tmp_path, SPAWNER)
    threading.Thread(target=lambda: (_pids(tmp_path), task.cancel.set()), daemon=True).start()
    result = LocalBackend(kill_grace=1).run_node(task)
    assert result.status == "cancelled"
    assert _gone(_pids(tmp_path))

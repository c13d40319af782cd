"""The contract every backend keeps, checked on each of them: in-memory, local and Ray.

A backend implements one method, ``run_node(NodeTask) -> NodeResult`` (scanflow/run/backend.py).
Every backend is held to the same contract here; what a backend can do beyond it, it declares
in ``Backend.supports`` (``scanflow.run.backend.CAPABILITIES``). A test of a capability checks
the guarantee on the backends that declare it, and on the others the documented fallback (the
in-memory backend runs Python callables in this process: it reports a timeout but cannot stop
the function), so that a declaration that is wrong in either direction fails here.

A new backend joins by adding its name to ``BACKENDS`` (and its settings to ``SETTINGS``); the
nodes it runs are the functions of ``backend_nodes.py``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import backend_nodes
import psutil
import pytest

from scanflow.run import get_backend
from scanflow.run.backend import (
    CANCEL_KILLS_TREE,
    CAPABILITIES,
    RESERVES_RESOURCES,
    SUBPROCESS,
    TIMEOUT_KILLS_TREE,
    NodeTask,
    attempt_banner,
)

HERE = Path(__file__).resolve().parent
KILL_GRACE = 1.0
SETTINGS = {
    "memory": {"functions": backend_nodes.NODES},
    "local": {"kill_grace": KILL_GRACE},
    "ray": {"kill_grace": KILL_GRACE, "poll_interval": 0.05},
}
BACKENDS = [pytest.param("memory"), pytest.param("local"), pytest.param("ray", marks=pytest.mark.ray)]


class Harness:
    """One backend, and tasks that run the nodes of ``backend_nodes`` on it."""

    def __init__(self, name: str, root: Path):
        self.backend = get_backend(name, **SETTINGS[name])
        self.root = root
        self.folders: list[Path] = []

    @property
    def supports(self) -> frozenset[str]:
        return self.backend.supports

    def task(self, node: str, *, env: dict[str, str] | None = None, **kw) -> NodeTask:
        folder = self.root / f"{node}-{len(self.folders)}"
        folder.mkdir(parents=True)
        self.folders.append(folder)
        path = os.pathsep.join([str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])])
        command = [sys.executable, "-c", f"import backend_nodes; backend_nodes.main({node!r})"]
        return NodeTask(run_id="contract", node_id=f"wf/{node}", command=command,
                        workdir=folder / "work",
                        env={**os.environ, "PYTHONPATH": path, "GREETING": "hello",
                             "NODE_DIR": str(folder), **(env or {})},
                        stdout_path=folder / "stdout.log", stderr_path=folder / "stderr.log", **kw)

    def run(self, task: NodeTask):
        return self.backend.run_node(task)

    def close(self) -> None:
        for folder in self.folders:  # lets a node the backend could not stop end by itself
            (folder / "stop").touch()
        self.backend.close()


@pytest.fixture(params=BACKENDS)
def harness(request, tmp_path):
    if request.param == "ray":
        request.getfixturevalue("ray_cluster")
    h = Harness(request.param, tmp_path)
    yield h
    h.close()


def _pids(task: NodeTask, timeout: float = 60) -> list[int]:
    path = Path(task.env["NODE_DIR"]) / "pids.txt"
    deadline = time.time() + timeout
    while not path.is_file():
        assert time.time() < deadline, "the node did not start its children"
        time.sleep(0.02)
    return [int(p) for p in path.read_text().split()]


def _alive(pids: list[int]) -> list[int]:
    """The processes that still run (a zombie has exited: only its parent has not read it)."""
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


# -- what every backend does --------------------------------------------------------------------

def test_a_backend_declares_only_known_capabilities(harness):
    assert harness.supports <= set(CAPABILITIES), sorted(harness.supports - set(CAPABILITIES))


def test_a_node_gets_its_environment_and_its_output_lands_in_the_stdout_log(harness):
    assert "GREETING" not in os.environ  # the node can only have it from the task
    task = harness.task("greet")
    result = harness.run(task)
    assert (result.status, result.returncode, result.error) == ("succeeded", 0, None)
    assert task.stdout_path.read_text() == "hello\n"
    assert task.stderr_path.read_text() == ""
    assert result.finished_at >= result.started_at > 0


def test_a_failing_node_reports_failed_and_its_traceback_lands_in_the_stderr_log(harness):
    task = harness.task("crash")
    result = harness.run(task)
    assert (result.status, result.returncode) == ("failed", 1)
    assert result.error
    assert "RuntimeError: boom" in task.stderr_path.read_text()


def test_a_failing_node_reports_its_exit_code(harness):
    result = harness.run(harness.task("exit_3"))
    assert (result.status, result.returncode, result.error) == ("failed", 3, "exited with code 3")


def test_later_attempts_append_to_the_logs_after_a_banner(harness):
    first = harness.task("say", env={"SAY": "one"})
    second = harness.task("say", env={"SAY": "two"}, attempt=2)
    second.stdout_path, second.stderr_path = first.stdout_path, first.stderr_path
    assert harness.run(first).ok and harness.run(second).ok
    assert first.stdout_path.read_text() == "one\n" + attempt_banner(2) + "two\n"
    assert first.stderr_path.read_text() == attempt_banner(2)


def test_a_node_that_cannot_start_fails_and_says_why(harness):
    task = harness.task("greet")
    task.node_id = "wf/no-such-node"  # the in-memory backend has no function for it
    task.command = [str(harness.root / "no-such-program")]
    result = harness.run(task)
    assert (result.status, result.returncode) == ("failed", None)
    assert "cannot start" in result.error
    assert "cannot start" in task.stderr_path.read_text()


# -- what a backend declares in `supports` ------------------------------------------------------

def test_a_process_node_starts_in_its_workdir_with_exactly_its_environment(harness, monkeypatch):
    task = harness.task("where")
    monkeypatch.setenv("OUTSIDE", "1")  # in the scheduler's process, not in task.env
    out = harness.run(task).ok and task.stdout_path.read_text().split()
    if SUBPROCESS in harness.supports:
        assert out == [str(task.workdir), "False"]
    else:  # a callable in this process: this process's directory and environment
        assert out == [os.getcwd(), "True"]


def test_a_timeout_is_reported_at_the_deadline_and_stops_the_process_tree(harness):
    task = harness.task("spawn", timeout=1.5)
    begin = time.time()
    result = harness.run(task)
    assert result.status == "timeout" and "timed out after 1.5 s" in result.error
    assert 1.5 <= time.time() - begin < 1.5 + KILL_GRACE + 15
    alive = _alive(_pids(task))
    if TIMEOUT_KILLS_TREE in harness.supports:
        assert alive == []  # the node, its child and the child that left its session
    else:  # reported, not stopped: the node still runs
        assert len(alive) == 2 and not (Path(task.env["NODE_DIR"]) / "stop").exists()


def test_a_cancel_is_reported_soon_and_stops_the_process_tree(harness):
    task = harness.task("spawn")
    asked: list[float] = []
    threading.Thread(target=lambda: (_pids(task), asked.append(time.time()), task.cancel.set()),
                     daemon=True).start()
    result = harness.run(task)
    assert result.status == "cancelled" and "cancel" in result.error
    assert asked and time.time() - asked[0] < KILL_GRACE + 15
    alive = _alive(_pids(task))
    if CANCEL_KILLS_TREE in harness.supports:
        assert alive == []  # gone when run_node returns: no waiting, no polling
    else:  # reported, not stopped: the node still runs
        assert len(alive) == 2


def test_resources_are_reserved_or_advisory_as_declared(harness):
    task = harness.task("greet", resources={"cpu": 1000.0, "memory": 2**40, "gpu": 8})
    result = harness.run(task)
    if RESERVES_RESOURCES in harness.supports:  # no worker has 1000 CPUs: refused at once
        assert result.status == "failed"
        assert "CPU=1000" in result.error and "largest node has" in result.error
        assert result.error in task.stderr_path.read_text()
    else:  # advisory: the node runs at once on this machine
        assert result.ok and task.stdout_path.read_text() == "hello\n"

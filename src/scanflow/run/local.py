"""The default backend: every node attempt is a subprocess in its own session (process group).

A timeout or a cancel (Ctrl-C, SIGTERM) ends the whole process tree: SIGTERM to the group and
to every descendant, then SIGKILL to whatever is left after ``kill_grace`` seconds.

>>> import sys, tempfile
>>> from pathlib import Path
>>> d = Path(tempfile.mkdtemp())
>>> task = NodeTask(run_id="r", node_id="wf/hello", command=[sys.executable, "-c", "print('hi')"],
...                 workdir=d, env={}, stdout_path=d / "out.log", stderr_path=d / "err.log")
>>> LocalBackend().run_node(task).status, (d / "out.log").read_text()
('succeeded', 'hi\\n')
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time

import psutil

from .backend import (
    CANCEL_KILLS_TREE,
    SUBPROCESS,
    TIMEOUT_KILLS_TREE,
    Backend,
    NodeResult,
    NodeTask,
    attempt_banner,
)


class LocalBackend(Backend):
    """Run nodes as local subprocesses.

    Parameters
    ----------
    kill_grace : float
        Seconds between SIGTERM and SIGKILL when a node is stopped.
    poll_interval : float
        How often a running node checks for a cancel request (process exit is seen at once).
    """

    name = "local"
    # Resources are advisory here (no RESERVES_RESOURCES): a node starts at once, whatever it asks.
    supports = frozenset({SUBPROCESS, TIMEOUT_KILLS_TREE, CANCEL_KILLS_TREE})

    def __init__(self, kill_grace: float = 5.0, poll_interval: float = 0.2):
        self.kill_grace = kill_grace
        self.poll_interval = poll_interval

    def run_node(self, task: NodeTask) -> NodeResult:
        task.workdir.mkdir(parents=True, exist_ok=True)
        task.stdout_path.parent.mkdir(parents=True, exist_ok=True)
        task.stderr_path.parent.mkdir(parents=True, exist_ok=True)
        with open(task.stdout_path, "ab") as out, open(task.stderr_path, "ab") as err:
            if task.attempt > 1:
                banner = attempt_banner(task.attempt).encode()
                out.write(banner)
                err.write(banner)
                out.flush()
                err.flush()
            started = time.time()
            try:
                proc = subprocess.Popen(
                    task.command, cwd=task.workdir, env=task.env, stdin=subprocess.DEVNULL,
                    stdout=out, stderr=err, start_new_session=True,
                )
            except OSError as exc:
                err.write(f"scanflow: cannot start {task.command[0]!r}: {exc}\n".encode())
                return NodeResult("failed", None, started, time.time(), f"cannot start the node: {exc}")
            if task.on_start is not None:
                task.on_start({"pid": proc.pid, "create_time": _create_time(proc.pid)})
            status, error = self._wait(proc, task, started)
            return NodeResult(status, proc.returncode, started, time.time(), error)

    def _wait(self, proc: subprocess.Popen, task: NodeTask, started: float) -> tuple[str, str | None]:
        deadline = started + task.timeout if task.timeout else None
        pidfd = _pidfd(proc.pid)
        poller = select.poll()
        if pidfd is not None:
            poller.register(pidfd, select.POLLIN)
        try:
            while True:
                wait_for = self.poll_interval
                if deadline is not None:
                    wait_for = max(0.0, min(wait_for, deadline - time.time()))
                if pidfd is not None:
                    # Wakes up the moment the process exits: no polling latency per node. poll,
                    # not select: select fails on descriptors numbered 1024 and above.
                    poller.poll(wait_for * 1000)
                    returncode = proc.poll()
                else:
                    try:
                        returncode = proc.wait(timeout=min(wait_for, 0.02) or 0.001)
                    except subprocess.TimeoutExpired:
                        returncode = None
                if returncode is not None:
                    if returncode == 0:
                        return "succeeded", None
                    return "failed", f"exited with code {returncode}"
                if task.cancel.is_set():
                    kill_tree(proc.pid, self.kill_grace)
                    proc.wait()
                    return "cancelled", "stopped by a cancel request"
                if deadline is not None and time.time() >= deadline:
                    kill_tree(proc.pid, self.kill_grace)
                    proc.wait()
                    return "timeout", f"timed out after {task.timeout:g} s; the process tree was killed"
        finally:
            if pidfd is not None:
                os.close(pidfd)


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _create_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def kill_tree(pid: int, grace: float = 5.0) -> None:
    """SIGTERM the process group led by ``pid`` and all its descendants; SIGKILL after ``grace``."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        procs = []
    _signal_group(pid, signal.SIGTERM)
    for p in procs:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace)
    _signal_group(pid, signal.SIGKILL)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=2)


def kill_stale(pid: int | None, create_time: float | None) -> bool:
    """Kill a node process left behind by a crashed scheduler, if it is still the same process."""
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if create_time is not None and abs(proc.create_time() - create_time) > 0.01:
            return False  # the pid was reused by another process
    except psutil.Error:
        return False
    kill_tree(pid, grace=2.0)
    return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass

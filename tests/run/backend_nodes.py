"""The nodes of the backend contract suite (test_backend_contract.py), written once.

Each node is a function that runs either as a Python callable (the in-memory backend calls it
with ``task=``) or as a process (``python -c "import backend_nodes; backend_nodes.main(NAME)"``
on the backends that declare ``subprocess``). Its return value is its output: ``main`` prints
it, the in-memory backend writes it to the stdout log. It reads its settings from its
environment: ``task.env`` as a callable, ``os.environ`` as a process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def _env(task=None):
    return task.env if task is not None else os.environ


def greet(task=None):
    """The value of ``GREETING`` in the node's environment."""
    return _env(task)["GREETING"]


def say(task=None):
    """The value of ``SAY``."""
    return _env(task)["SAY"]


def where(task=None):
    """The working directory, and whether ``OUTSIDE`` (set only in the scheduler's process)
    reached the node."""
    return f"{os.getcwd()} {'OUTSIDE' in os.environ}"


def crash(task=None):
    raise RuntimeError("boom")


def exit_3(task=None):
    raise SystemExit(3)


def spawn(task=None):
    """Start a child and a child in a session of its own, write the pids of the tree to
    ``$NODE_DIR/pids.txt`` (the node's own first, when it is a process), then wait until
    ``$NODE_DIR/stop`` exists (or 60 s) and clean up."""
    folder = Path(_env(task)["NODE_DIR"])
    child = subprocess.Popen(SLEEPER)
    escaped = subprocess.Popen(SLEEPER, start_new_session=True)
    pids = ([os.getpid()] if task is None else []) + [child.pid, escaped.pid]
    (folder / "pids.tmp").write_text(" ".join(map(str, pids)))
    os.replace(folder / "pids.tmp", folder / "pids.txt")  # readers never see half of it
    deadline = time.time() + 60
    while not (folder / "stop").exists() and time.time() < deadline:
        time.sleep(0.05)
    for proc in (child, escaped):
        proc.kill()
        proc.wait()
    return "stopped"


NODES = {f.__name__: f for f in (greet, say, where, crash, exit_3, spawn)}


def main(name: str) -> None:
    value = NODES[name]()
    if value is not None:
        print(value)

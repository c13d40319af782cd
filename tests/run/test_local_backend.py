"""What only the local backend does; the contract it shares with every backend (environment,
logs, exit codes, timeouts and cancels that kill the process tree) is checked in
test_backend_contract.py."""

from __future__ import annotations

import os
import sys
import time

from scanflow.run import LocalBackend, NodeTask


def test_the_node_process_is_reported_as_it_starts(tmp_path):
    """The scheduler records the pid (and its start time) to kill a node left behind by a crash."""
    started = []
    code = "import os; print(os.getpid())"
    task = NodeTask(run_id="r", node_id="wf/n", command=[sys.executable, "-c", code], workdir=tmp_path,
                    env=dict(os.environ), stdout_path=tmp_path / "out.log", stderr_path=tmp_path / "err.log",
                    on_start=started.append)
    assert LocalBackend().run_node(task).ok
    [info] = started
    assert info["pid"] == int((tmp_path / "out.log").read_text())
    assert abs(info["create_time"] - time.time()) < 60

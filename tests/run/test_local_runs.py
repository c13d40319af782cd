"""Real runs: subprocess nodes, MLflow tracking, retries, cache, kill -9 + resume, SIGTERM, venvs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from mlflow import MlflowClient

from scanflow.run import RunState, find_run, list_runs, run_workflow
from scanflow.track import sync_tracking, tracking_uri

WRITE_ENV = """
    import json, os, sys
    keys = [k for k in os.environ if k.startswith(("SCANFLOW_", "MLFLOW_"))]
    out = os.path.join(os.environ["SCANFLOW_OUTPUT_DIR"], os.environ["SCANFLOW_NODE_NAME"] + ".json")
    with open(out, "w") as f:
        json.dump({"argv": sys.argv[1:], "cwd": os.getcwd(), "env": {k: os.environ[k] for k in keys}}, f)
"""


def _runs(app):
    sync_tracking(app)  # a `scanflow run` (deferred tracking) may have ended before its records are in
    client = MlflowClient(tracking_uri(app))
    exp = client.get_experiment_by_name(app.name)
    return client, {r.info.run_id: r for r in client.search_runs([exp.experiment_id])}


def test_nodes_get_their_parameters_environment_and_nested_mlflow_runs(make_app):
    app = make_app("""
        name: envs
        workflows:
          - name: main
            nodes:
              - {name: first, script: write_env.py, parameters: {lr: 0.5, batch-size: 8}, outputs: [first.json]}
              - {name: evaluation, workflow: evaluation, depends_on: [first]}
          - name: evaluation
            nodes:
              - {name: second, script: write_env.py, outputs: [second.json]}
    """, {"write_env.py": WRITE_ENV})
    result = run_workflow(app)
    assert result.ok, result
    first = json.loads((result.output_dir / "first.json").read_text())
    second = json.loads((result.output_dir / "second.json").read_text())
    assert first["argv"] == ["--lr", "0.5", "--batch-size", "8"]
    env = first["env"]
    assert env["SCANFLOW_PARAM_LR"] == "0.5" and env["SCANFLOW_PARAM_BATCH_SIZE"] == "8"
    assert env["SCANFLOW_RUN_ID"] == result.run_id and env["SCANFLOW_NODE"] == "main/first"
    assert env["SCANFLOW_OUTPUT_DIR"] == str(result.output_dir)
    assert env["SCANFLOW_STATE_DIR"] == str(app.state_path)
    assert first["cwd"] == env["SCANFLOW_NODE_DIR"]  # each node has its own working directory
    assert env["MLFLOW_TRACKING_URI"] == tracking_uri(app) == f"sqlite:///{app.state_path / 'mlflow.db'}"

    client, runs = _runs(app)  # the stock MLflow client sees the whole hierarchy
    parent = runs[result.run_id]
    assert parent.data.tags["scanflow.kind"] == "workflow" and parent.info.status == "FINISHED"
    node_run = runs[env["MLFLOW_RUN_ID"]]
    assert node_run.data.tags["mlflow.parentRunId"] == result.run_id
    assert node_run.data.params == {"lr": "0.5", "batch-size": "8"}
    assert env["MLFLOW_EXPERIMENT_ID"] == parent.info.experiment_id
    group = runs[runs[second["env"]["MLFLOW_RUN_ID"]].data.tags["mlflow.parentRunId"]]
    assert group.data.tags["scanflow.kind"] == "group" and group.info.run_name == "evaluation"
    assert group.data.tags["mlflow.parentRunId"] == result.run_id
    artifacts = {a.path for a in client.list_artifacts(node_run.info.run_id)}
    assert {"logs", "outputs"} <= artifacts
    assert [a.path for a in client.list_artifacts(node_run.info.run_id, "outputs")] == ["outputs/first.json"]
    assert {a.path for a in client.list_artifacts(node_run.info.run_id, "logs")} == {"logs/stdout.log", "logs/stderr.log"}


def test_a_node_that_fails_twice_then_succeeds_is_retried(make_app):
    app = make_app("""
        name: flaky
        workflows:
          - name: main
            nodes:
              - {name: flaky, script: flaky.py, retries: 2, retry_backoff: 0}
    """, {"flaky.py": """
        import os, sys
        attempt = int(os.environ["SCANFLOW_ATTEMPT"])
        print(f"attempt {attempt}")
        if attempt < 3:
            sys.exit(f"transient failure {attempt}")
    """})
    result = run_workflow(app)
    node = result.nodes["main/flaky"]
    assert result.ok and node.status == "succeeded" and node.attempts == 3
    assert "transient failure 1" in node.stderr.read_text() and "transient failure 2" in node.stderr.read_text()
    _, runs = _runs(app)
    tracked = runs[node.mlflow_run_id]
    assert tracked.info.status == "FINISHED" and tracked.data.tags["scanflow.attempts"] == "3"


def test_a_second_identical_run_is_served_from_the_cache(make_app):
    app = make_app("""
        name: cached
        workflows:
          - name: main
            nodes:
              - {name: make, script: make.py, outputs: [data.txt]}
              - {name: use, script: use.py, depends_on: [make], outputs: [copy.txt]}
    """, {"make.py": """
        import os
        open(os.path.join(os.environ["SCANFLOW_OUTPUT_DIR"], "data.txt"), "w").write("payload")
    """, "use.py": """
        import os
        out = os.environ["SCANFLOW_OUTPUT_DIR"]
        open(os.path.join(out, "copy.txt"), "w").write(open(os.path.join(out, "data.txt")).read())
    """})
    first = run_workflow(app)
    second = run_workflow(app)
    assert first.statuses == {"main/make": "succeeded", "main/use": "succeeded"}
    assert second.statuses == {"main/make": "cached", "main/use": "cached"}
    assert (second.output_dir / "copy.txt").read_text() == "payload"
    assert not (second.run_dir / "nodes" / "main" / "make" / "logs" / "stdout.log").exists()  # never started
    _, runs = _runs(app)
    cached = runs[second.nodes["main/use"].mlflow_run_id]
    assert cached.data.tags["scanflow.cached"] == "true"
    assert cached.data.tags["scanflow.cache_source_run"] == first.nodes["main/use"].mlflow_run_id

    (app.root / "make.py").write_text((app.root / "make.py").read_text().replace("payload", "changed"))
    third = run_workflow(app)  # code changed: the node and everything downstream run again
    assert third.statuses == {"main/make": "succeeded", "main/use": "succeeded"}
    assert (third.output_dir / "copy.txt").read_text() == "changed"


def test_a_callable_node_runs_in_a_subprocess_with_its_parameters(make_app):
    app = make_app("""
        name: calls
        workflows:
          - name: main
            nodes:
              - {name: add, callable: "helpers:add", parameters: {a: 2, b: 3}}
    """, {"helpers.py": """
        import os
        def add(a, b):
            return {"sum": a + b, "pid": os.getpid()}
    """})
    result = run_workflow(app, track=False)
    value = json.loads((result.run_dir / "nodes" / "main" / "add" / "result.json").read_text())
    assert result.ok and value["sum"] == 5 and value["pid"] != os.getpid()


BLOCKING_APP = """
    name: crashy
    workflows:
      - name: main
        nodes:
          - {name: a, script: quick.py, outputs: [a.txt]}
          - {name: b, script: slow.py, depends_on: [a], outputs: [b.txt]}
          - {name: c, script: quick.py, depends_on: [a], outputs: [c.txt]}
          - {name: d, script: quick.py, depends_on: [b], outputs: [d.txt]}
"""
BLOCKING_FILES = {
    "quick.py": """
        import os
        name = os.environ["SCANFLOW_NODE_NAME"]
        open(os.path.join(os.environ["SCANFLOW_OUTPUT_DIR"], name + ".txt"), "w").write(name)
    """,
    "slow.py": """
        import os, time
        out = os.environ["SCANFLOW_OUTPUT_DIR"]
        open(os.path.join(out, "b.started"), "a").write(str(os.getpid()) + "\\n")
        if os.path.exists(os.path.join(os.environ["SCANFLOW_APP_DIR"], "block")):
            time.sleep(120)
        open(os.path.join(out, "b.txt"), "w").write("b")
    """,
}


def _start_cli_run(app) -> subprocess.Popen:
    (app.root / "block").touch()
    code = "import sys; from scanflow.cli import main; sys.argv = ['scanflow', 'run', sys.argv[1]]; main()"
    return subprocess.Popen([sys.executable, "-c", code, str(app.root)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "COLUMNS": "200"})


def _wait_until_b_runs(app, proc) -> RunState:
    for _ in range(600):
        states = list_runs(app.state_path)  # skips a run folder whose state is not written yet
        if states:
            nodes = states[0].data["nodes"]
            b = nodes.get("main/b", {})
            if b.get("pid") and nodes.get("main/c", {}).get("status") == "succeeded" \
                    and (states[0].output_dir / "b.started").exists():
                return states[0]
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early:\n{proc.stdout.read()}")
        time.sleep(0.1)
    raise AssertionError("node b never started")


def test_a_run_killed_with_kill_9_resumes_and_reruns_only_what_did_not_finish(make_app):
    app = make_app(BLOCKING_APP, BLOCKING_FILES)
    proc = _start_cli_run(app)
    state = _wait_until_b_runs(app, proc)
    orphan = state.data["nodes"]["main/b"]["pid"]
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()

    crashed = find_run(app.state_path, state.run_id)
    assert crashed.effective_status() == "interrupted"
    assert crashed.data["nodes"]["main/b"]["status"] == "running"
    (app.root / "block").unlink()
    result = run_workflow(app, resume=state.run_id)
    assert result.run_id == state.run_id and result.ok, result
    assert result.statuses == {"main/a": "reused", "main/b": "succeeded", "main/c": "reused", "main/d": "succeeded"}
    assert not psutil.pid_exists(orphan) or psutil.Process(orphan).status() == psutil.STATUS_ZOMBIE
    started = (result.output_dir / "b.started").read_text().split()
    assert len(started) == 2  # b ran twice (killed, then resumed); a and c ran once
    _, runs = _runs(app)
    assert runs[result.run_id].info.status == "FINISHED"
    b_runs = [r for r in runs.values() if r.data.tags.get("scanflow.node") == "main/b"]
    assert sorted(r.info.status for r in b_runs) == ["FINISHED", "KILLED"]
    assert len([r for r in runs.values() if r.data.tags.get("scanflow.node") == "main/a"]) == 1


def test_sigterm_stops_the_run_cleanly_and_prints_the_resume_command(make_app):
    app = make_app(BLOCKING_APP, BLOCKING_FILES)
    proc = _start_cli_run(app)
    state = _wait_until_b_runs(app, proc)
    node_pid = state.data["nodes"]["main/b"]["pid"]
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert f"scanflow run {app.root} --resume {state.run_id}" in output
    final = find_run(app.state_path, state.run_id).data
    assert final["status"] == "cancelled"
    assert {k: v["status"] for k, v in final["nodes"].items()} == {
        "main/a": "succeeded", "main/b": "cancelled", "main/c": "succeeded", "main/d": "pending"}
    assert not psutil.pid_exists(node_pid) or psutil.Process(node_pid).status() == psutil.STATUS_ZOMBIE
    _, runs = _runs(app)
    assert runs[state.run_id].info.status == "KILLED"


def test_a_timeout_fails_the_node_and_prints_how_to_resume(make_app):
    app = make_app("""
        name: slow
        workflows:
          - name: main
            nodes:
              - {name: sleepy, script: sleepy.py, timeout: 1}
    """, {"sleepy.py": "import time; time.sleep(60)\n"})
    result = run_workflow(app, track=False)
    assert result.statuses == {"main/sleepy": "timeout"}
    assert result.resume_command == f"scanflow run {os.path.relpath(app.source)} --resume {result.run_id}"


@pytest.mark.slow
def test_isolated_nodes_get_a_cached_venv_per_requirements_set(make_app):
    app = make_app("""
        name: isolated
        workflows:
          - name: main
            nodes:
              - {name: bare, script: where.py, isolated: true, requirements: [], outputs: [bare.json]}
              - {name: bare2, script: where.py, isolated: true, outputs: [bare2.json]}
              - {name: numpy, script: where.py, isolated: true, requirements: [numpy],
                 env: {PIP_NO_INDEX: "1"}, outputs: [numpy.json]}
    """, {"where.py": """
        import json, os, sys
        import numpy, scanflow  # inherited from the project's environment, nothing downloaded
        out = os.path.join(os.environ["SCANFLOW_OUTPUT_DIR"], os.environ["SCANFLOW_NODE_NAME"] + ".json")
        json.dump({"prefix": sys.prefix, "executable": sys.executable}, open(out, "w"))
    """})
    os.environ["PIP_NO_INDEX"] = "1"  # the pip run by Scanflow inherits this: offline
    try:
        result = run_workflow(app, track=False, max_parallel=1)
    finally:
        del os.environ["PIP_NO_INDEX"]
    assert result.ok, [n.error for n in result.nodes.values()]
    seen = {n: json.loads((result.output_dir / f"{n}.json").read_text()) for n in ("bare", "bare2", "numpy")}
    envs = app.state_path / "envs"
    assert Path(seen["bare"]["prefix"]).parent == envs
    assert seen["bare"]["prefix"] == seen["bare2"]["prefix"]  # same requirements: one venv
    assert seen["numpy"]["prefix"] != seen["bare"]["prefix"]
    assert sorted(p.name for p in envs.iterdir() if p.is_dir()) == sorted(
        Path(seen[n]["prefix"]).name for n in ("bare", "numpy"))


def test_an_isolated_env_is_created_under_a_file_lock_other_processes_see(tmp_path, monkeypatch):
    from filelock import FileLock, Timeout

    from scanflow.run import envs

    lock = tmp_path / f"{envs.env_key([])}.lock"
    seen = []

    def creating(cmd, log):  # a second lock on the file, as another process takes it, is refused
        try:
            FileLock(lock).acquire(timeout=0)
            seen.append("free")
        except Timeout:
            seen.append("held")
        raise envs.EnvCreationError("stop after the first step")

    monkeypatch.setattr(envs, "_run", creating)
    with pytest.raises(envs.EnvCreationError, match="stop"):
        envs.ensure_env([], tmp_path)
    assert seen == ["held"]
    FileLock(lock).acquire(timeout=0)  # and released when creation stops

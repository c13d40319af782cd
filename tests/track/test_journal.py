"""Deferred tracking (the journal and its replay) records exactly what synchronous tracking
records, survives a replay done twice and a dead writer, and keeps MLflow out of the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from mlflow import MlflowClient

from scanflow.app import load_app
from scanflow.run import Scheduler
from scanflow.track import sync_tracking, tracking_uri
from scanflow.track.journal import JournalRecorder, journals_dir
from scanflow.track.replay import replay_pending

APP = """
    name: journal
    workflows:
      - name: main
        nodes:
          - {name: a, script: write.py, parameters: {lr: 0.5, layers: [1, 2]}, outputs: [a.txt]}
          - {name: evaluation, workflow: evaluation, depends_on: [a]}
          - {name: broken, script: fail.py}
          - {name: after-broken, script: write.py, depends_on: [broken]}
      - name: evaluation
        nodes:
          - {name: b, script: log_mlflow.py}
"""
FILES = {
    "write.py": """
        import os
        name = os.environ["SCANFLOW_NODE_NAME"]
        open(os.path.join(os.environ["SCANFLOW_OUTPUT_DIR"], name + ".txt"), "w").write(name)
        print("wrote", name)
    """,
    "fail.py": "import sys; print('no data', file=sys.stderr); sys.exit(3)\n",
    "log_mlflow.py": """
        import mlflow  # straight to the node's run, as user code does
        mlflow.log_metric("accuracy", 0.93)
        mlflow.log_param("seen_by", "node")
        mlflow.log_text("hello", "notes/hello.txt")
    """,
}


def _make_app(root: Path, template: Path, spec: str = APP):
    root.mkdir(parents=True)
    for name, text in FILES.items():
        (root / name).write_text(textwrap.dedent(text))
    (root / "scanflow.yaml").write_text(textwrap.dedent(spec))
    (root / ".scanflow").mkdir()
    shutil.copy(template, root / ".scanflow" / "mlflow.db")
    return load_app(root)


def _hierarchy(app) -> dict[str, dict]:
    """Every run by its path of names, with what a person sees of it in the MLflow UI."""
    client = MlflowClient(tracking_uri(app))
    exp = client.get_experiment_by_name(app.name)
    runs = {r.info.run_id: r for r in client.search_runs([exp.experiment_id])}

    def path(run) -> str:
        parent = run.data.tags.get("mlflow.parentRunId")
        return (path(runs[parent]) + "/" if parent else "") + run.info.run_name

    def artifacts(run_id: str, folder: str | None = None) -> list[str]:
        found = []
        for item in client.list_artifacts(run_id, folder):
            found += artifacts(run_id, item.path) if item.is_dir else [item.path]
        return sorted(found)

    varying = {"mlflow.parentRunId", "scanflow.run_id", "scanflow.cache_key", "mlflow.source.name",
               "scanflow.resume_command"}
    return {path(r): {"status": r.info.status, "params": r.data.params, "metrics": sorted(r.data.metrics),
                      "tags": {k: v for k, v in r.data.tags.items() if k not in varying},
                      "artifacts": artifacts(r.info.run_id), "ended": r.info.end_time is not None}
            for r in runs.values()}


def test_a_deferred_run_records_exactly_what_a_synchronous_run_records(tmp_path, mlflow_db_template):
    records = {}
    for deferred in (False, True):
        app = _make_app(tmp_path / str(deferred), mlflow_db_template)
        result = Scheduler(app, handle_signals=False, deferred_tracking=deferred).run()
        assert result.status == "failed" and result.statuses["main/after-broken"] == "skipped"
        sync_tracking(app)
        records[deferred] = _hierarchy(app)
    assert records[True] == records[False]
    node = records[True]["main/evaluation/b"]
    assert node["metrics"] == ["accuracy"] and node["params"] == {"seen_by": "node"}
    assert "notes/hello.txt" in node["artifacts"] and "logs/stdout.log" in node["artifacts"]
    assert records[True]["main/a"]["params"] == {"lr": "0.5", "layers": "[1, 2]"}
    assert records[True]["main/broken"]["status"] == "FAILED"
    assert records[True]["main"]["status"] == "FAILED" and "nodes_skipped" in records[True]["main"]["metrics"]


def _journal_of_a_small_run(app) -> Path:
    recorder = JournalRecorder(app, start_writer=False)
    parent = recorder.start("main", {"scanflow.kind": "workflow"}, {"nodes": 1})
    child = recorder.start("a", {"scanflow.kind": "node"}, {"lr": 0.1}, parent=parent)
    recorder.finish_later(child, "succeeded", {"scanflow.attempts": 1})
    recorder.finish(parent, "succeeded", {"duration_s": 1.0})
    recorder.close()
    return recorder.path


def test_a_journal_replayed_twice_records_each_run_once(tmp_path, mlflow_db_template):
    app = _make_app(tmp_path / "app", mlflow_db_template)
    journal = _journal_of_a_small_run(app)
    copy = tmp_path / "copy.jsonl"
    shutil.copy(journal, copy)
    assert replay_pending(app.state_path / "mlflow.db") == 8  # lines: experiment, 2 starts, 2 params, 2 ends, close
    assert not journal.exists()  # sealed and applied: gone
    shutil.copy(copy, journal)  # as if the process died before it noted what it had applied
    assert replay_pending(app.state_path / "mlflow.db") == 8  # lines: experiment, 2 starts, 2 params, 2 ends, close
    runs = _hierarchy(app)
    assert set(runs) == {"main", "main/a"}
    assert runs["main/a"]["status"] == runs["main"]["status"] == "FINISHED"
    assert runs["main/a"]["params"] == {"lr": "0.1"} and runs["main"]["metrics"] == ["duration_s"]


@pytest.mark.parametrize("delay", [60.0, 0.05])
def test_the_writer_starts_once_a_second_into_the_run_or_when_it_ends(tmp_path, mlflow_db_template, monkeypatch,
                                                                       delay):
    from scanflow.track import journal as journal_module

    started = []
    monkeypatch.setattr(journal_module, "WRITER_DELAY", delay)
    monkeypatch.setattr(journal_module, "start_writer_process", started.append)
    app = _make_app(tmp_path / "app", mlflow_db_template)
    recorder = JournalRecorder(app)
    assert started == []  # not with the run: its start would compete with the first nodes
    if delay < 1:
        deadline = time.monotonic() + 30
        while not started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(started) == 1  # a long run: its records appear as it goes
    recorder.close()
    assert started == [recorder.db_path]  # once, whichever came first


def test_the_journal_of_a_process_that_died_is_written_as_far_as_it_goes(tmp_path, mlflow_db_template):
    app = _make_app(tmp_path / "app", mlflow_db_template)
    recorder = JournalRecorder(app, start_writer=False)
    parent = recorder.start("main", {"scanflow.kind": "workflow"})
    recorder._file.write('{"op": "start", "run_id": "cut-in-the-mid')  # the last write, torn
    recorder._file.flush()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = recorder.path.with_name(recorder.path.name.rsplit("-", 1)[0] + f"-{dead.pid}.jsonl")
    recorder.path.rename(orphan)
    old = time.time() - 60
    os.utime(orphan, (old, old))
    replay_pending(app.state_path / "mlflow.db")
    runs = MlflowClient(tracking_uri(app)).search_runs([MlflowClient(tracking_uri(app)).get_experiment_by_name(
        app.name).experiment_id])
    assert [r.info.run_id for r in runs] == [parent] and runs[0].info.status == "RUNNING"
    assert not orphan.exists()


def _imported_modules(*args: str, cwd: Path) -> set[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "scanflow.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.slow
def test_the_cli_starts_without_mlflow_and_the_run_still_reaches_mlflow(tmp_path, mlflow_db_template):
    app = _make_app(tmp_path / "app", mlflow_db_template, spec="""
        name: quick
        workflows:
          - name: main
            nodes:
              - {name: a, script: write.py, outputs: [a.txt]}
              - {name: b, script: log_mlflow.py, depends_on: [a]}
    """)
    heavy = {"mlflow", "torch", "sqlalchemy", "pandas", "networkx"}
    assert not heavy & _imported_modules("--help", cwd=tmp_path)
    assert not heavy & _imported_modules("validate", str(app.root), cwd=tmp_path)
    assert not {"mlflow", "torch", "pandas"} & _imported_modules("run", str(app.root), cwd=tmp_path)

    db = app.state_path / "mlflow.db"
    deadline = time.time() + 120  # the background writer finishes, and exits
    while (any(journals_dir(db).glob("*.jsonl")) or _writers(db)) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(journals_dir(db).glob("*.jsonl")) and not _writers(db)
    runs = _hierarchy(app)
    assert set(runs) == {"main", "main/a", "main/b"}
    assert {r["status"] for r in runs.values()} == {"FINISHED"}
    assert runs["main/b"]["metrics"] == ["accuracy"] and "outputs/a.txt" in runs["main/a"]["artifacts"]


def _writers(db: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "scanflow.track.replay" in cmdline and str(db) in cmdline:
            found.append(proc)
    return found


OPEN_FRESH_STORE = """
import sys
from mlflow import MlflowClient
client = MlflowClient(tracking_uri=sys.argv[1], registry_uri=sys.argv[1])
client.search_experiments()
client.search_registered_models()
"""


def test_processes_opening_a_new_store_at_once_make_its_schema_once(tmp_path):
    # under deferred tracking the background writer and the first nodes open a new mlflow.db at
    # the same moment; two MLflow migrations at once on one SQLite file break it for good
    db = tmp_path / ".scanflow" / "mlflow.db"
    db.parent.mkdir()
    uri = f"scanflow+sqlite:///{db}"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_FRESH_STORE, uri], env=env, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    client = MlflowClient(f"sqlite:///{db}")
    assert [e.name for e in client.search_experiments()] == ["Default"]

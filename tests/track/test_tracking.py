"""Tracking helpers against a real SQLite MLflow store: URIs, batched metrics, queries."""

from __future__ import annotations

import pytest

from scanflow.app import Application, Executor, Workflow
from scanflow.run import InMemoryBackend, run_workflow
from scanflow.track import (
    NoActiveRun,
    current_run_id,
    log_dict,
    log_metric_series,
    log_metrics,
    log_params,
    runs_dataframe,
    tracking_uri,
)


def test_tracking_uri_prefers_the_app_setting_then_the_environment_then_the_embedded_store(tmp_path, monkeypatch):
    app = Application(name="a", state_dir=str(tmp_path / "state"))
    assert tracking_uri(app) == f"sqlite:///{tmp_path / 'state' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri(app) == "http://127.0.0.1:5000"
    app.tracker.uri = "http://tracker.internal:5000"
    assert tracking_uri(app) == "http://tracker.internal:5000"


def test_metrics_go_to_the_run_named_by_mlflow_run_id(store):
    client, run_id = store
    log_metrics({"accuracy": 0.9, "loss": 0.3}, step=2)
    log_metric_series("loss_curve", [1.0 / (i + 1) for i in range(1500)])  # two batches of <= 1000
    log_params({"lr": 0.1})
    data = client.get_run(run_id).data
    assert data.metrics["accuracy"] == 0.9 and data.params == {"lr": "0.1"}
    history = client.get_metric_history(run_id, "loss_curve")
    assert len(history) == 1500 and sorted(m.step for m in history) == list(range(1500))
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == [2]


def test_an_active_mlflow_run_wins_over_the_environment(store):
    import mlflow

    client, env_run = store
    other = client.create_run(client.get_run(env_run).info.experiment_id).info.run_id
    with mlflow.start_run(run_id=other):
        assert current_run_id() == other
        log_metrics({"x": 1})
    assert "x" in client.get_run(other).data.metrics and "x" not in client.get_run(env_run).data.metrics


def test_logging_outside_a_run_says_what_to_do(monkeypatch):
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    with pytest.raises(NoActiveRun, match="inside a Scanflow node"):
        current_run_id()


def test_dicts_are_stored_as_json_artifacts(store, tmp_path):
    import json

    import mlflow

    client, run_id = store
    log_dict({"a": 1}, "reports/summary.json")
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="reports/summary.json",
                                               dst_path=str(tmp_path / "dl"))
    assert json.loads(open(path).read()) == {"a": 1}


def test_runs_dataframe_lists_the_workflow_run_and_its_nested_node_runs(tmp_path, mlflow_db_template):
    import shutil

    (tmp_path / "state").mkdir()
    shutil.copy(mlflow_db_template, tmp_path / "state" / "mlflow.db")
    app = Application(name="query", state_dir=str(tmp_path / "state"), workflows=[
        Workflow(name="main", nodes=[Executor(name="a", callable="m:f"),
                                     Executor(name="b", callable="m:f", depends_on=["a"])])])
    result = run_workflow(app, backend=InMemoryBackend({"a": lambda: 1, "b": lambda: 2}))
    df = runs_dataframe(app=app)
    assert len(df) == 3
    parent = df[df["kind"] == "workflow"]
    assert parent["run_id"].tolist() == [result.run_id] and parent["status"].tolist() == ["FINISHED"]
    nodes = runs_dataframe(app=app, kind="node", run_id=result.run_id)
    assert sorted(nodes["node"]) == ["main/a", "main/b"]
    assert set(nodes["parent_run_id"]) == {result.run_id}
    assert set(nodes["tags.scanflow.status"]) == {"succeeded"}
    assert "metrics.duration_s" in parent.columns


def test_a_run_after_its_experiment_was_deleted_brings_the_experiment_back(tmp_path, mlflow_db_template):
    """The recorder looks the experiment up once per process; a deleted one is looked up again."""
    import shutil

    from mlflow import MlflowClient

    (tmp_path / "state").mkdir()
    shutil.copy(mlflow_db_template, tmp_path / "state" / "mlflow.db")
    app = Application(name="again", state_dir=str(tmp_path / "state"), workflows=[
        Workflow(name="main", nodes=[Executor(name="a", callable="m:f")])])
    first = run_workflow(app, backend=InMemoryBackend({"a": lambda: 1}))
    client = MlflowClient(f"sqlite:///{tmp_path / 'state' / 'mlflow.db'}")
    experiment = client.get_run(first.run_id).info.experiment_id
    client.delete_experiment(experiment)
    second = run_workflow(app, backend=InMemoryBackend({"a": lambda: 1}))
    assert second.ok
    assert client.get_experiment(experiment).lifecycle_stage == "active"
    assert client.get_run(second.run_id).info.experiment_id == experiment
    assert runs_dataframe(app=app, kind="node", run_id=second.run_id)["node"].tolist() == ["main/a"]

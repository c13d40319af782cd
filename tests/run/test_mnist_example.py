"""The MNIST example end to end (one short epoch): every node runs for real, in MLflow."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from scanflow.app import load_app
from scanflow.models import load_torch_model
from scanflow.run import run_workflow
from scanflow.track import get_alias_version, tracking_uri

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mnist"


@pytest.mark.slow
def test_mnist_example_trains_evaluates_and_registers(tmp_path, mlflow_db_template, monkeypatch):
    folder = tmp_path / "mnist"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".scanflow", "__pycache__"))
    spec = yaml.safe_load((folder / "scanflow.yaml").read_text())
    nodes = {n["name"]: n for n in spec["workflows"][0]["nodes"]}
    nodes["load"]["parameters"]["limit"] = 3000
    nodes["train"]["parameters"]["epochs"] = 1
    nodes["register"]["parameters"]["min-accuracy"] = 0.5
    (folder / "scanflow.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (folder / ".scanflow").mkdir()
    shutil.copy(mlflow_db_template, folder / ".scanflow" / "mlflow.db")
    app = load_app(folder)

    result = run_workflow(app)
    assert result.ok, {k: (v.status, v.error) for k, v in result.nodes.items()}
    assert set(result.statuses) == {"training/load", "training/preprocess", "training/stats", "training/train",
                                    "training/evaluation/evaluate", "training/register"}

    client = MlflowClient(tracking_uri(app))
    experiment = client.get_experiment_by_name("mnist")
    runs = client.search_runs([experiment.experiment_id])
    by_name = {r.info.run_name: r for r in runs}
    assert by_name["training"].info.run_id == result.run_id
    assert by_name["evaluation"].data.tags["mlflow.parentRunId"] == result.run_id
    assert by_name["evaluate"].data.tags["mlflow.parentRunId"] == by_name["evaluation"].info.run_id
    accuracy = by_name["evaluate"].data.metrics["test_accuracy"]
    assert accuracy > 0.7  # one short epoch on 3,000 images; the full example reaches ~97 %
    assert "class_balance" in by_name["stats"].data.metrics
    assert len(client.get_metric_history(by_name["train"].info.run_id, "batch_loss")) > 10
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri(app))  # as inside a node
    assert get_alias_version("mnist-cnn", "champion") == 1
    import sys

    sys.path.insert(0, str(folder))
    try:
        model = load_torch_model("mnist-cnn", alias="champion",
                                 trusted_architectures=("mnist_model:SmallCNN",))
    finally:
        sys.path.remove(str(folder))
    assert type(model).__name__ == "SmallCNN"

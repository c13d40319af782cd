"""The team set-up of the tracker: a real ``mlflow server`` on PostgreSQL, artifacts served by it.

An application's ``tracker.uri`` points at the server; ``scanflow run`` logs its runs there and
a model registered and promoted through Scanflow gets its alias there. Everything is checked
with a plain ``MlflowClient`` against the server, as a user of the stock MLflow UI would see it.
Skipped without PostgreSQL (see tests/_postgres.py).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scanflow.cli import app as cli
from scanflow.track import get_client, register_model

pytest_plugins = ["_postgres"]

STARTUP_TIMEOUT = 60.0  # `mlflow server` migrates a new database first: 10-20 s on a busy machine
TEMPLATE = Path(__file__).parents[2] / "src" / "scanflow" / "templates" / "basic"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(postgres_url, tmp_path):
    """``http://127.0.0.1:PORT`` of an ``mlflow server`` on a fresh PostgreSQL database."""
    port = _free_port()
    log = open(tmp_path / "mlflow-server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", postgres_url,
         "--artifacts-destination", str(tmp_path / "artifacts"), "--serve-artifacts"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, tmp_path / "mlflow-server.log")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"`mlflow server` exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"`mlflow server` did not answer {url}/health within {STARTUP_TIMEOUT:g}s "
                f"(a busy machine? see {log}):\n{log.read_text()[-3000:]}")


def _invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], env={"COLUMNS": "200"})


@pytest.mark.e2e
def test_runs_params_artifacts_and_the_champion_alias_land_on_an_mlflow_server_on_postgres(
        mlflow_server, tmp_path):
    from mlflow import MlflowClient

    folder = tmp_path / "starter"
    shutil.copytree(TEMPLATE, folder)
    spec = folder / "scanflow.yaml"
    spec.write_text(spec.read_text() + f"tracker:\n  uri: {mlflow_server}\n")

    result = _invoke("run", folder)
    assert result.exit_code == 0, result.output
    run_id = re.search(r"run ([0-9a-f]{32}) succeeded", result.output).group(1)

    client = MlflowClient(mlflow_server)
    root = client.get_run(run_id)
    assert root.info.status == "FINISHED"
    # A fresh database: every run of the experiment is this workflow run's (nested node runs).
    nodes = {r.data.tags.get("mlflow.runName"): r for r in client.search_runs([root.info.experiment_id])}
    fit = next(r for name, r in nodes.items() if name and name.endswith("fit"))
    prepare = next(r for name, r in nodes.items() if name and name.endswith("prepare"))
    assert prepare.data.params.get("rows") == "500"
    assert "train_mse" in fit.data.metrics
    artifacts = _artifact_paths(client, fit.info.run_id)
    assert any(p.endswith("weights.npy") for p in artifacts), artifacts
    # The artifacts went through the server into its artifact folder, not the app's.
    assert list((tmp_path / "artifacts").rglob("weights.npy"))

    weights = next(p for p in artifacts if p.endswith("weights.npy"))
    scanflow_client = get_client(mlflow_server)
    version = register_model(f"runs:/{fit.info.run_id}/{weights}", "starter-model",
                             tags={"source": "scanflow"}, client=scanflow_client)
    promoted = _invoke("models", "promote", "starter-model", str(version),
                       "--tracking-uri", mlflow_server)
    assert promoted.exit_code == 0, promoted.output
    champion = client.get_model_version_by_alias("starter-model", "champion")
    assert (champion.version, champion.run_id) == (str(version), fit.info.run_id)
    assert champion.tags["source"] == "scanflow"


def _artifact_paths(client, run_id: str, path: str | None = None) -> list[str]:
    out = []
    for f in client.list_artifacts(run_id, path):
        out += _artifact_paths(client, run_id, f.path) if f.is_dir else [f.path]
    return out

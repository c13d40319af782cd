"""Small helpers for node code: log to the node's MLflow run without any setup.

Inside a node started by Scanflow, ``MLFLOW_TRACKING_URI`` and ``MLFLOW_RUN_ID`` are set, so::

    from scanflow.track import log_metrics, log_metric_series
    log_metrics({"accuracy": 0.97, "loss": 0.08}, step=3)
    log_metric_series("loss", losses)           # 1,000 values -> one request

Outside a node they use the active ``mlflow`` run (``mlflow.start_run()``), or ``run_id=``.
Metrics always go in batches (``MlflowClient.log_batch``, up to 1,000 metrics a request).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from scanflow.errors import ScanflowError

from .store import get_client, tracking_uri

BATCH = 1000  # MLflow's limit of metrics per log_batch request


class NoActiveRun(ScanflowError, RuntimeError):
    """A logging helper was called outside a run (no active MLflow run and no ``MLFLOW_RUN_ID``)."""


def current_run_id(run_id: str | None = None) -> str:
    """``run_id``, else the active ``mlflow`` run, else ``$MLFLOW_RUN_ID`` (set in every node)."""
    if run_id:
        return run_id

    if "mlflow" in sys.modules:  # only look for a fluent run if the caller uses mlflow itself
        # lazy: mlflow, imported only when the caller has already loaded it
        import mlflow

        active = mlflow.active_run()
        if active is not None:
            return active.info.run_id
    if os.environ.get("MLFLOW_RUN_ID"):
        return os.environ["MLFLOW_RUN_ID"]
    raise NoActiveRun("no MLflow run to log to: call this inside a Scanflow node, within "
                      "`mlflow.start_run()`, or pass run_id=")


def _client():
    return get_client(tracking_uri())


def _now() -> int:
    return int(time.time() * 1000)


def log_metrics(metrics: Mapping[str, float], step: int | None = None, run_id: str | None = None) -> None:
    """Log several metrics at one step in one request."""
    # lazy: mlflow (importing scanflow.track must not load it)
    from mlflow.entities import Metric

    ts = _now()
    items = [Metric(str(k), float(v), ts, int(step or 0)) for k, v in metrics.items()]
    _log_batch(current_run_id(run_id), items)


def log_metric_series(name: str, values: Iterable[float], start_step: int = 0,
                      run_id: str | None = None) -> None:
    """Log ``values`` as one metric over steps ``start_step, start_step+1, ...``, batched."""
    # lazy: mlflow (importing scanflow.track must not load it)
    from mlflow.entities import Metric

    ts = _now()
    items = [Metric(name, float(v), ts, start_step + i) for i, v in enumerate(values)]
    _log_batch(current_run_id(run_id), items)


def _log_batch(run_id: str, metrics: list) -> None:
    client = _client()
    for i in range(0, len(metrics), BATCH):
        client.log_batch(run_id, metrics=metrics[i:i + BATCH])


def log_params(params: Mapping[str, Any], run_id: str | None = None) -> None:
    """Log parameters (100 a request, values cut to MLflow's 6,000 characters)."""
    # lazy: mlflow (importing scanflow.track must not load it)
    from mlflow.entities import Param

    items = [Param(str(k), str(v)[:6000]) for k, v in params.items()]
    client, rid = _client(), current_run_id(run_id)
    for i in range(0, len(items), 100):
        client.log_batch(rid, params=items[i:i + 100])


def set_tags(tags: Mapping[str, Any], run_id: str | None = None) -> None:
    # lazy: mlflow (importing scanflow.track must not load it)
    from mlflow.entities import RunTag

    _client().log_batch(current_run_id(run_id), tags=[RunTag(str(k), str(v)) for k, v in tags.items()])


def log_artifact(path: str | os.PathLike[str], artifact_path: str | None = None, run_id: str | None = None) -> None:
    """Upload a file or a folder to the run's artifacts."""
    path = Path(path)
    client, rid = _client(), current_run_id(run_id)
    if path.is_dir():
        client.log_artifacts(rid, str(path), artifact_path)
    else:
        client.log_artifact(rid, str(path), artifact_path)


def log_dict(data: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Store ``data`` as a JSON artifact, e.g. ``log_dict(report, "eval/report.json")``."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / Path(artifact_file).name
        target.write_text(json.dumps(data, indent=2, default=str))
        parent = str(Path(artifact_file).parent)
        log_artifact(target, None if parent == "." else parent, run_id)

"""Log a check to MLflow: decision and scores as metrics, settings as params, the result
JSON and the HTML report as artifacts. Uses :mod:`scanflow.track` for the tracking URI and
the client, so checks land in the same store as the runs they supervise."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from scanflow.track import get_client
from scanflow.track import tracking_uri as default_uri

from .result import CheckResult

__all__ = ["log_check"]


def log_check(result: CheckResult, *, params: dict | None = None, report: str | Path | None = None,
              tracking_uri: str | None = None, experiment: str = "scanflow-check",
              run_name: str | None = None) -> str:
    """Create an MLflow run holding the check; returns the run id."""
    # lazy: mlflow, slow to import; only logging a check needs it
    from mlflow.entities import Metric, Param, RunTag

    client = get_client(tracking_uri or default_uri())
    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
    run = client.create_run(exp_id, run_name=run_name or f"check-{result.detector}",
                            tags={"scanflow.kind": "check", "scanflow.detector": result.detector})
    run_id = run.info.run_id
    metrics = {"is_drift": float(result.is_drift), "n_samples": float(result.n_samples)}
    for key in ("score", "threshold", "p_value"):
        value = getattr(result, key)
        if value is not None:
            metrics[key] = float(value)
    if result.is_outlier is not None:
        metrics["share_flagged"] = result.n_outliers / max(1, len(result.is_outlier))

    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
        params=[Param(str(k), str(v)[:6000]) for k, v in (params or {}).items()],
        tags=[RunTag("scanflow.is_drift", str(result.is_drift))],
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "check_result.json"
        path.write_text(json.dumps(result.to_dict(), indent=1), encoding="utf-8")
        client.log_artifact(run_id, str(path), "check")
    if report is not None:
        client.log_artifact(run_id, str(report), "check")
    client.set_terminated(run_id)
    return run_id

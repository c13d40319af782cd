"""Improving with the application's own retrain workflow (the design of the original Scanflow:
agents call workflows).

The improver writes the labeled training samples to a file (CSV with a ``target`` column for
tables, ``.npz`` with ``X`` and ``y`` for images and tensors), logs it, and runs the workflow named
by ``retrain_workflow`` through the scheduler — locally or on Ray, tracked in MLflow like any
run — with these run-time parameters, given to every executor that declares them:

=====================  =========================================================================
``labeled_data``       path of that file (required: declare it in the node that trains)
``champion_version``   the registry version being improved
``model_name``         the registered model
=====================  =========================================================================

The workflow registers a new version of the model (``scanflow.models.log_model(...,
registered_model_name=model_name)`` or plain ``mlflow.<flavor>.log_model``); that version,
found by the MLflow runs of the workflow run, is the candidate.
"""

from __future__ import annotations

import hashlib
from typing import Any

from scanflow.run.runner import _executors
from scanflow.track import get_client, tracking_uri
from scanflow.track.store import registry_uri

__all__ = ["run_retrain_workflow", "workflow_parameters"]

PARAMETERS = ("labeled_data", "champion_version", "model_name")


def workflow_parameters(app: Any, workflow: str) -> set[str]:
    """The run-time parameters (of :data:`PARAMETERS`) the workflow's executors declare."""
    declared: set[str] = set()
    for node in _executors(app, workflow):
        declared |= set(node.parameters) & set(PARAMETERS)
    return declared


def _versions_of_run(ctx, model: str, mlflow_run_ids: list[str]) -> list[int]:
    client = get_client(tracking_uri(ctx.app), registry_uri(ctx.app))
    found = client.search_model_versions(f"name = '{model}'")
    return sorted(int(v.version) for v in found if v.run_id in set(mlflow_run_ids))


def run_retrain_workflow(ctx, cfg, model: str, champion_version: str, train, key: str) -> int:
    """Run the retrain workflow on ``train`` (a LabeledSet); return the version it registered."""
    # lazy: cycle, .improvement imports this module
    from .improvement import write_labeled

    folder = ctx.app.state_path / "improve" / hashlib.sha1(key.encode()).hexdigest()[:12]
    path = write_labeled(train, folder)
    offered = {"labeled_data": str(path.resolve()), "champion_version": str(champion_version),
               "model_name": model}
    declared = workflow_parameters(ctx.app, cfg.retrain_workflow)
    result = ctx.services.runner.run(ctx.app, workflow=cfg.retrain_workflow,
                                     parameters={k: v for k, v in offered.items() if k in declared},
                                     note=lambda info: ctx.store.note_action(key, info))
    if result.get("status") != "succeeded":
        raise RuntimeError(f"retrain workflow {cfg.retrain_workflow!r} {result.get('status')} "
                           f"(run {result.get('run_id')}): see `scanflow runs show {result.get('run_id')}`")
    versions = _versions_of_run(ctx, model, result.get("mlflow_run_ids") or [])
    if not versions:
        raise RuntimeError(f"retrain workflow {cfg.retrain_workflow!r} (run {result.get('run_id')}) "
                           f"registered no version of {model!r}: register the retrained model with "
                           f"registered_model_name={model!r}")
    return versions[-1]

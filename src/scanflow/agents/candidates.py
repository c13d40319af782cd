"""Candidates: registering one (with its evaluation tracked in MLflow) and choosing the one the
planner sees.

A candidate is registered as a new version of the model, logged to its own MLflow run in the
application's experiment (tags: the action key, the episode, what made it), and carries its
payload (metrics on every slice, the champion's metrics, the episode's label accounting) as a
version tag, so a restart finds it and the stock MLflow UI shows it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from scanflow.improve.gate import EvaluationGate, evaluate
from scanflow.models import ModelAdapter, log_model
from scanflow.track import ensure_experiment, get_client, log_metrics, tracking_uri
from scanflow.track.store import registry_uri

from .episodes import Episode, EpisodeStore

__all__ = ["best_candidate", "register"]


def _client_and_experiment(ctx) -> tuple[Any, str]:
    client = get_client(tracking_uri(ctx.app), registry_uri(ctx.app))
    return client, ensure_experiment(ctx.app, client)


def register(ctx, model_name: str, candidate: Any, key: str, episode: int | None, made_by: str,
             tags: dict[str, Any] | None = None, metrics: dict[str, float] | None = None) -> dict[str, Any]:
    """Log ``candidate`` in a new run and register it; returns ``{"version", "run_id", "made_by"}``."""
    client, experiment = _client_and_experiment(ctx)
    run_tags = {"scanflow.kind": "improve", "scanflow.action_key": key, "scanflow.agent": ctx.name,
                "scanflow.episode": str(episode), "scanflow.made_by": made_by}
    run = client.create_run(experiment, run_name=f"candidate {made_by}", tags=run_tags)
    version_tags = {"scanflow.action_key": key, "scanflow.episode": str(episode),
                    "scanflow.role": "candidate", "scanflow.made_by": made_by, **(tags or {})}
    info = log_model(candidate, "model", run_id=run.info.run_id, registered_model_name=model_name,
                     tags=version_tags, description=f"{made_by} for episode {episode}")
    finite = {k: float(v) for k, v in (metrics or {}).items() if np.isfinite(v)}
    if finite:
        log_metrics(finite, run_id=run.info.run_id)
    client.set_terminated(run.info.run_id)
    return {"version": str(info.version), "run_id": run.info.run_id, "made_by": made_by}


def _final(cfg, metrics: dict[str, float], accounting: dict[str, int], budget: int) -> bool:
    """Final when the budget is spent, or when the candidate is within ``target_gap`` of its
    clean accuracy on at least ``final_min_held_out`` held-out labels (on five labels one
    lucky guess moves the accuracy by 20 points)."""
    if accounting.get("requested", 0) >= budget:
        return True
    gap = metrics.get("clean_accuracy", 1.0) - metrics.get("drifted_accuracy", 0.0)
    return gap <= cfg.target_gap and accounting.get("held_out", 0) >= cfg.final_min_held_out


def _better(cfg, baseline: dict[str, float], a: dict[str, float], b: dict[str, float]) -> bool:
    """Whether candidate ``a`` should go to the planner rather than ``b``: one the gate would
    pass beats one it would not; between equals, the higher accuracy on the shift wins."""
    gate = EvaluationGate(**cfg.gate_params)
    pass_a, pass_b = gate.decide(baseline, a).promote, gate.decide(baseline, b).promote
    if pass_a != pass_b:
        return pass_a
    return a["drifted_accuracy"] > b["drifted_accuracy"]


def _zero_label_entry(improvement, episode: Episode, slices) -> tuple[dict, ModelAdapter] | None:
    info = episode.info.get("zero_label")
    if not info or episode.info.get("zero_label_gated"):
        return None
    model = improvement._load(str(info["version"]))
    return {**info, "metrics": evaluate(model, slices)}, model


def best_candidate(improvement, episode: Episode, request: dict[str, Any], key: str,
                   champion_version: str, champion: ModelAdapter, made: tuple[str, ModelAdapter],
                   slices: dict[str, tuple], accounting: dict[str, int]) -> dict[str, Any]:
    """Evaluate the new candidate (and a waiting zero-label one) beside the champion; register the
    new one; return the payload of the better of the two for the planner."""
    ctx, cfg = improvement.ctx, improvement.cfg
    made_by, candidate = made
    baseline = evaluate(champion, slices)
    metrics = evaluate(candidate, slices)
    entry = register(ctx, improvement.model, candidate, key, episode.id, made_by,
                     {"scanflow.champion": champion_version},
                     {**{f"candidate_{k}": v for k, v in metrics.items()},
                      **{f"champion_{k}": v for k, v in baseline.items()}})
    zero = _zero_label_entry(improvement, episode, slices)
    chosen, zero_label = {**entry, "metrics": metrics}, False
    if zero is not None and _better(cfg, baseline, zero[0]["metrics"], metrics):
        chosen, zero_label = zero[0], True
    payload = {
        "model": improvement.model, "version": chosen["version"], "strategy": chosen["made_by"],
        "metrics": chosen["metrics"], "baseline_metrics": baseline, "run_id": chosen["run_id"],
        "episode": episode.id, "round": int(request.get("round", 1)), "zero_label": zero_label,
        "final": _final(cfg, chosen["metrics"], accounting, cfg.label_budget),
        "notify": [n for n in (ctx.name, episode.info.get("checker")) if n], "labels": accounting,
        "champion_version": champion_version,
        "alternatives": [{"version": zero[0]["version"], "made_by": zero[0]["made_by"],
                          "drifted_accuracy": zero[0]["metrics"]["drifted_accuracy"]}] if zero else [],
    }
    if zero is not None:
        EpisodeStore(ctx.store).update_info(episode.id, key=f"{key}/zero-gated", zero_label_gated=True)
    ctx.services.registry.set_tag(improvement.model, entry["version"], "scanflow.candidate",
                                  json.dumps(payload, default=float))
    return payload

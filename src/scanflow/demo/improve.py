"""The improver agent's ``improve`` callable for the demo: one round of :mod:`scanflow.improve`.

The agents decide *when* to improve; this says *with what*: the champion from the registry, the
samples labeled so far in the label store (by the oracle or a person), the digits the champion
was trained on (replayed so clean accuracy is kept), and held-out evaluation slices — clean
digits never used for training, and a share of the labeled drifted samples kept aside
(``holdout``). :func:`scanflow.improve.loop.run_round` improves and evaluates; the candidate is
logged to MLflow and registered (tagged with the action key, so a restarted improver finds it
instead of training twice); the planner's default gate (:class:`EvaluationGate`) then decides
on the metrics sent along.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

__all__ = ["HOLDOUT_CLEAN", "make_improver"]

HOLDOUT_CLEAN = slice(5000, 6000)  # of load_mnist("train"): the demo never trains on these


class _StoredLabels:
    """The labels already given in the label store, as the loop's labeler."""

    def __init__(self, y: np.ndarray):
        self.y = np.asarray(y, dtype=np.int64)

    def label(self, indices) -> np.ndarray:
        return self.y[np.asarray(indices, dtype=np.int64)]


def make_improver(app, labels, *, model_name: str, train_limit: int, seed: int = 0,
                  holdout: float = 0.3, session: str = ""):
    """``improve(request, key) -> candidate`` for the improver agent (see the module docstring).

    ``session`` tells this demo's candidates apart from earlier demos' in the same registry
    (each demo starts a fresh state database, so the agents' action keys repeat).
    """
    from scanflow.datasets import load_mnist

    X_all, y_all = load_mnist("train")
    X_train, y_train = X_all[: min(train_limit, HOLDOUT_CLEAN.start)], y_all[: min(train_limit, HOLDOUT_CLEAN.start)]
    clean = (X_all[HOLDOUT_CLEAN], y_all[HOLDOUT_CLEAN])

    candidates: list[dict[str, Any]] = []

    def improve(request: dict[str, Any], key: str) -> dict[str, Any]:
        from scanflow.improve.gate import EvaluationGate, register_candidate
        from scanflow.improve.loop import run_round
        from scanflow.improve.selection import get_selector
        from scanflow.improve.strategies import get_strategy
        from scanflow.track import (
            ensure_experiment,
            get_alias_version,
            get_client,
            load_torch_model,
            log_metrics,
            tracking_uri,
        )

        client = get_client(tracking_uri(app))
        found = [v for v in client.search_model_versions(f"tags.`scanflow.action_key` = '{key}'")
                 if (v.tags or {}).get("scanflow.session") == session]
        if found and "scanflow.candidate" in (found[0].tags or {}):
            return json.loads(found[0].tags["scanflow.candidate"])  # already made before a restart
        champion_version = get_alias_version(model_name, "champion", client=client)
        champion = load_torch_model(model_name, version=champion_version)
        _, X_lab, y_lab = labels.labeled()
        strategy_name = request.get("strategy", "retrain")
        strategy = get_strategy(strategy_name, cache_dir=str(app.state_path / "cache" / "improve"),
                                **dict(request.get("strategy_params") or {}))
        gate = EvaluationGate()
        result = run_round(
            champion, None, X_lab, selector=get_selector("random"), labeler=_StoredLabels(y_lab),
            strategy=strategy, gate=gate, X_train=X_train, y_train=y_train,
            eval_slices={"clean": clean}, budget=len(X_lab), seed=seed, holdout=holdout,
            selected=np.arange(len(X_lab)),
        )
        run = client.create_run(ensure_experiment(app, client), run_name=f"improve-{strategy_name}",
                                tags={"scanflow.kind": "improve", "scanflow.action_key": key})
        run_id = run.info.run_id
        log_metrics({**{f"champion_{k}": v for k, v in result.champion_metrics.items()},
                     **{f"candidate_{k}": v for k, v in result.candidate_metrics.items()},
                     "labels_used": result.labels_used, "trained_on": result.trained_on,
                     "held_out": result.held_out}, run_id=run_id)
        candidate = {"model": model_name, "version": None, "strategy": strategy_name,
                     "metrics": result.candidate_metrics, "baseline_metrics": result.champion_metrics,
                     "run_id": run_id}
        if result.candidate is not None:
            version = register_candidate(
                result.candidate, model_name, run_id=run_id,
                tags={"scanflow.action_key": key, "scanflow.session": session, "scanflow.role": "candidate",
                      "scanflow.labels_used": result.labels_used},
                description=f"{strategy_name} on {result.trained_on} labeled drifted samples")
            candidate["version"] = str(version)
            client.set_model_version_tag(model_name, str(version), "scanflow.candidate",
                                         json.dumps(candidate))
        client.set_terminated(run_id)
        candidates.append({**candidate, "labels_used": result.labels_used,
                           "trained_on": result.trained_on, "held_out": result.held_out,
                           "gate": result.decision.reason})
        return candidate

    improve.candidates = candidates  # what the demo's summary reports
    return improve

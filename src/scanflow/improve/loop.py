"""One round of the improvement loop, as one function the experiment and the agents share.

    champion + detector + pool of drifted data
      → detect (the detector's batch decision on the pool: no drift, no labels spent)
      → select (a Selector, within a label budget)
      → label (a :class:`~scanflow.improve.labelers.Labeler`: an OracleLabeler, a StoreLabeler
        backed by the label store...)
      → improve (a Strategy) → candidate
      → evaluate champion and candidate on held-out slices → gate decision

The evaluation slices must be held out: disjoint from the pool the selector picks from. When
the caller has no held-out drifted slice (a deployment that only has what humans labeled),
``holdout`` sets aside that share of the labeled samples as the drifted slice; they are then
not used for training.

The champion is any model :func:`scanflow.models.as_model` takes; the pool and the slices are
arrays or DataFrames. A labeler answers with class labels in the model's label space; a negative
number (or None) means the sample was skipped.

Example (tiny, a scikit-learn model on a table, an oracle and the random selector)::

    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from scanflow.improve.gate import EvaluationGate
    >>> from scanflow.improve.selection import get_selector
    >>> from scanflow.improve.strategies import RetrainStrategy
    >>> from scanflow.improve.labelers import OracleLabeler
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(90, 4)); y = (X[:, 0] > 0).astype(int)
    >>> champion = LogisticRegression().fit(X[:40], y[:40])
    >>> result = run_round(champion, None, X[40:60] + 1, selector=get_selector("random"),
    ...     labeler=OracleLabeler(y[40:60]), strategy=RetrainStrategy(),
    ...     gate=EvaluationGate(), X_train=X[:40], y_train=y[:40], budget=5,
    ...     eval_slices={"drifted": (X[60:] + 1, y[60:]), "clean": (X[60:], y[60:])})
    >>> result.labels_used, isinstance(result.decision.promote, bool)
    (5, True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scanflow.models import take

from .gate import EvaluationGate, GateDecision
from .labelers import Labeler
from .selection import Selector
from .strategies import Strategy

__all__ = ["RoundResult", "run_round"]


@dataclass
class RoundResult:
    """Everything one round produced. ``selected`` are positions in the pool."""

    selected: np.ndarray
    labels: np.ndarray
    candidate: Any
    champion_metrics: dict[str, float]
    candidate_metrics: dict[str, float]
    decision: GateDecision
    labels_used: int
    trained_on: int
    held_out: int
    timings: dict[str, float] = field(default_factory=dict)
    drift: dict[str, Any] | None = None

    def _repr_html_(self) -> str:
        """Jupyter: the gate's decision and reason, the labels it cost, champion vs candidate."""
        from ..html import render  # lazy: Jinja2, only in notebooks

        names = [k for k, v in self.candidate_metrics.items()
                 if isinstance(v, int | float) and isinstance(self.champion_metrics.get(k), int | float)]
        metrics = [(k, f"{self.champion_metrics[k]:.4g}", f"{self.candidate_metrics[k]:.4g}",
                    f"{self.candidate_metrics[k] - self.champion_metrics[k]:+.4g}") for k in names]
        return render("round_result.html.j2", r=self, metrics=metrics,
                      timings=list(self.timings.items()))

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (no arrays, no model)."""
        return {
            "labels_used": self.labels_used,
            "trained_on": self.trained_on,
            "held_out": self.held_out,
            "promote": self.decision.promote,
            "reason": self.decision.reason,
            "champion_metrics": self.champion_metrics,
            "candidate_metrics": self.candidate_metrics,
            "timings": self.timings,
            "drift": self.drift,
        }


def _labels_of(labeler, selected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The labeler's answers for ``selected`` and the mask of the ones it did not skip."""
    if not hasattr(labeler, "label"):
        raise TypeError(
            f"labeler must have a label(indices) -> labels method, got {type(labeler).__name__}"
        )
    labels = np.asarray(labeler.label(selected))
    if labels.shape != (len(selected),):
        raise ValueError(
            f"labeler returned {labels.shape} labels for {len(selected)} samples; it must return "
            "one label per index (negative or None for a skipped sample)"
        )
    if labels.dtype.kind in "iuf":
        return labels, labels >= 0
    return labels, np.array([v is not None and v == v and v != "" for v in labels], dtype=bool)


def _no_drift(detector, X_pool, champion_metrics, timings) -> tuple[dict, RoundResult | None]:
    """Ask the detector about the pool as a batch; a round result when it sees no drift."""
    t0 = time.perf_counter()
    check = detector.predict(X_pool)
    timings["detect"] = time.perf_counter() - t0
    drift = {"is_drift": bool(check.is_drift), "p_value": check.p_value,
             "share_flagged": float(np.mean(check.is_outlier)) if check.is_outlier else None}
    if check.is_drift:
        return drift, None
    cm = champion_metrics or {}
    p = f" (p={check.p_value:.3g})" if check.p_value is not None else ""
    decision = GateDecision(False, f"the detector sees no drift in the pool{p}: no label spent -> keep",
                            {f"champion_{k}": v for k, v in cm.items()})
    empty = np.zeros(0, np.int64)
    return drift, RoundResult(empty, empty, None, cm, {}, decision, 0, 0, 0, timings, drift)


def _hold_out(gate, eval_slices, X_pool, sel_ok, lab_ok, holdout, seed) -> tuple[np.ndarray, int]:
    """Positions (into the labeled samples) to train on; sets the drifted slice aside if needed."""
    if gate.drifted_slice in eval_slices:
        return np.arange(len(sel_ok)), 0
    if not 0 < holdout < 1:
        raise ValueError(
            f"eval_slices has no drifted slice {gate.drifted_slice!r} and holdout={holdout}: "
            "pass held-out drifted data or a holdout share in (0, 1)"
        )
    perm = np.random.default_rng(seed).permutation(len(sel_ok))
    held_out = int(round(holdout * len(sel_ok)))
    eval_slices[gate.drifted_slice] = (take(X_pool, sel_ok[perm[:held_out]]), lab_ok[perm[:held_out]])
    return np.sort(perm[held_out:]), held_out


def _timed(timings: dict[str, float], step: str, fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    timings[step] = time.perf_counter() - t0
    return out


def _nothing_to_learn(champion_metrics: dict[str, float]) -> GateDecision:
    return GateDecision(
        False,
        "no labeled sample to learn from (the selector picked none: the detector flagged "
        "nothing, or every sample was skipped) -> keep",
        {f"champion_{k}": v for k, v in champion_metrics.items()},
    )


def _with_clean_slice(gate: EvaluationGate, eval_slices) -> dict[str, tuple[Any, Any]]:
    eval_slices = dict(eval_slices or {})
    if gate.clean_slice not in eval_slices:
        raise ValueError(
            f"eval_slices needs the clean slice {gate.clean_slice!r}: held-out clean data "
            "(X, y) to check the candidate loses no clean accuracy"
        )
    return eval_slices


def _improve_and_decide(champion, strategy, gate, train, labeled, eval_slices, champion_metrics,
                        seed, timings):
    """The candidate from the labeled samples, its metrics and the gate's decision."""
    candidate = _timed(timings, "improve", strategy.improve, champion, *train, *labeled, seed=seed)
    candidate_metrics = _timed(timings, "evaluate_candidate", gate.evaluate, candidate, eval_slices)
    return candidate, candidate_metrics, gate.decide(champion_metrics, candidate_metrics)


def run_round(
    champion, detector, X_pool,
    *,
    selector: Selector,
    labeler: Labeler,
    strategy: Strategy,
    gate: EvaluationGate,
    X_train, y_train,
    eval_slices: dict[str, tuple[Any, Any]] | None = None,
    budget: int = 100,
    seed: int = 0,
    holdout: float = 0.3,
    champion_metrics: dict[str, float] | None = None,
    selected: np.ndarray | None = None,
    require_drift: bool = True,
) -> RoundResult:
    """Run detect → select → label → improve → evaluate → decide once (module docstring).

    Args:
        champion, detector: the deployed model (not modified); the fitted detector the
            selector may use (None for model-only selectors).
        X_pool: the drifted samples to choose from (an array or a DataFrame).
        selector, labeler, strategy, gate: the four pluggable parts.
        X_train, y_train: the champion's training data (the strategies replay it).
        eval_slices: held-out ``{name: (X, y)}``, disjoint from ``X_pool``, with the gate's clean
            slice (and its drifted slice unless ``holdout`` > 0: that share of the labels).
        budget, champion_metrics, selected: most labels to ask for; the champion's metrics if
            computed already; pool positions to label instead of selecting (chosen earlier).
        require_drift: with a detector, first ask it about the pool as a batch; when it sees
            no drift the round ends there (no label is spent, the champion stays).
    """
    eval_slices = _with_clean_slice(gate, eval_slices)
    X_pool = X_pool if hasattr(X_pool, "iloc") else np.asarray(X_pool)
    timings: dict[str, float] = {}
    drift = None
    if detector is not None and require_drift and selected is None:
        drift, done = _no_drift(detector, X_pool, champion_metrics, timings)
        if done is not None:
            return done
    if selected is None:
        selected = _timed(timings, "select", selector.select, X_pool, budget, model=champion,
                          detector=detector, seed=seed)
    selected = np.asarray(selected, dtype=np.int64)
    labels, ok = (_timed(timings, "label", _labels_of, labeler, selected) if len(selected)
                  else (np.zeros(0, np.int64), np.zeros(0, bool)))
    sel_ok, lab_ok = selected[ok], labels[ok]
    train_idx, held_out = _hold_out(gate, eval_slices, X_pool, sel_ok, lab_ok, holdout, seed)
    if champion_metrics is None:
        champion_metrics = _timed(timings, "evaluate_champion", gate.evaluate, champion, eval_slices)
    if len(train_idx) == 0:
        return RoundResult(selected, labels, None, champion_metrics, {},
                           _nothing_to_learn(champion_metrics), int(ok.sum()), 0, held_out,
                           timings, drift)
    candidate, candidate_metrics, decision = _improve_and_decide(
        champion, strategy, gate, (X_train, y_train), (take(X_pool, sel_ok[train_idx]),
                                                       lab_ok[train_idx]),
        eval_slices, champion_metrics, seed, timings)
    return RoundResult(selected, labels, candidate, champion_metrics, candidate_metrics, decision,
                       int(ok.sum()), len(train_idx), held_out, timings, drift)

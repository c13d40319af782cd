"""One round of the improvement loop, as one function the experiment and the agents share.

    champion + detector + pool of drifted data
      → detect (the detector's batch decision on the pool: no drift, no labels spent)
      → select (a Selector, within a label budget)
      → label (anything with ``label(indices) -> labels``: an OracleLabeler, a human labeler
        backed by the label store...)
      → improve (a Strategy) → candidate
      → evaluate champion and candidate on held-out slices → gate decision

The evaluation slices must be held out: disjoint from the pool the selector picks from. When
the caller has no held-out drifted slice (a deployment that only has what humans labeled),
``holdout`` sets aside that share of the labeled samples as the drifted slice; they are then
not used for training.

Example (tiny, with an oracle and the random selector)::

    >>> import numpy as np
    >>> from scanflow.improve.classifier import train_classifier
    >>> from scanflow.improve.gate import EvaluationGate
    >>> from scanflow.improve.selection import get_selector
    >>> from scanflow.improve.strategies import RetrainStrategy
    >>> from scanflow.improve.labels import OracleLabeler
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 255, (60, 28, 28), dtype=np.uint8); y = np.arange(60) % 10
    >>> champion = train_classifier(X[:40], y[:40], epochs=1)
    >>> result = run_round(champion, None, X[40:50], selector=get_selector("random"),
    ...     labeler=OracleLabeler(y[40:50]), strategy=RetrainStrategy(epochs=1),
    ...     gate=EvaluationGate(), X_train=X[:40], y_train=y[:40], budget=5,
    ...     eval_slices={"drifted": (X[50:], y[50:]), "clean": (X[50:], y[50:])})
    >>> result.labels_used, isinstance(result.decision.promote, bool)
    (5, True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .gate import EvaluationGate, GateDecision
from .selection import Selector
from .strategies import Strategy

__all__ = ["Labeler", "RoundResult", "run_round"]


class Labeler(Protocol):
    """Gives the class of the pool samples at ``indices`` (a negative label means "skipped")."""

    def label(self, indices) -> np.ndarray: ...


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


def _labels_of(labeler, selected: np.ndarray) -> np.ndarray:
    if not hasattr(labeler, "label"):
        raise TypeError(
            f"labeler must have a label(indices) -> labels method, got {type(labeler).__name__}"
        )
    labels = np.asarray(labeler.label(selected))
    if labels.shape != (len(selected),):
        raise ValueError(
            f"labeler returned {labels.shape} labels for {len(selected)} samples; it must return "
            "one label per index (negative for a skipped sample)"
        )
    return labels.astype(np.int64)


def run_round(
    champion,
    detector,
    X_pool,
    *,
    selector: Selector,
    labeler: Labeler,
    strategy: Strategy,
    gate: EvaluationGate,
    X_train,
    y_train,
    eval_slices: dict[str, tuple[Any, Any]] | None = None,
    budget: int = 100,
    seed: int = 0,
    holdout: float = 0.3,
    champion_metrics: dict[str, float] | None = None,
    selected: np.ndarray | None = None,
    require_drift: bool = True,
) -> RoundResult:
    """Run select → label → improve → evaluate → decide once; see the module docstring.

    Args:
        champion: the deployed model (not modified).
        detector: the fitted detector the selector may use (None for model-only selectors).
        X_pool: the drifted samples to choose from.
        selector, labeler, strategy, gate: the four pluggable parts.
        X_train, y_train: the champion's training data (the strategies replay it).
        eval_slices: held-out ``{name: (X, y)}``, disjoint from ``X_pool``; must hold the gate's
            clean slice, and its drifted slice unless ``holdout`` > 0.
        budget: most labels to ask for.
        holdout: share of the labeled samples kept aside as the drifted slice when
            ``eval_slices`` has none.
        champion_metrics: the champion's metrics on ``eval_slices`` if already computed.
        selected: skip selection and label these pool positions (e.g. chosen earlier).
        require_drift: with a detector, first ask it about the pool as a batch; when it sees
            no drift the round ends there (no label is spent, the champion stays).
    """
    eval_slices = dict(eval_slices or {})
    if gate.clean_slice not in eval_slices:
        raise ValueError(
            f"eval_slices needs the clean slice {gate.clean_slice!r}: held-out clean data "
            "(X, y) to check the candidate loses no clean accuracy"
        )
    X_pool = np.asarray(X_pool)
    timings: dict[str, float] = {}
    drift = None
    if detector is not None and require_drift and selected is None:
        t0 = time.perf_counter()
        check = detector.predict(X_pool)
        timings["detect"] = time.perf_counter() - t0
        drift = {
            "is_drift": bool(check.is_drift),
            "p_value": check.p_value,
            "share_flagged": float(np.mean(check.is_outlier)) if check.is_outlier else None,
        }
        if not check.is_drift:
            cm = champion_metrics or {}
            decision = GateDecision(
                False,
                "the detector sees no drift in the pool"
                + (f" (p={check.p_value:.3g})" if check.p_value is not None else "")
                + ": no label spent -> keep",
                {f"champion_{k}": v for k, v in cm.items()},
            )
            return RoundResult(
                np.zeros(0, np.int64),
                np.zeros(0, np.int64),
                None,
                cm,
                {},
                decision,
                0,
                0,
                0,
                timings,
                drift,
            )
    t0 = time.perf_counter()
    if selected is None:
        selected = selector.select(X_pool, budget, model=champion, detector=detector, seed=seed)
    selected = np.asarray(selected, dtype=np.int64)
    timings["select"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    labels = _labels_of(labeler, selected) if len(selected) else np.zeros(0, np.int64)
    timings["label"] = time.perf_counter() - t0
    ok = labels >= 0
    sel_ok, lab_ok = selected[ok], labels[ok]

    held_out = 0
    train_idx = np.arange(len(sel_ok))
    if gate.drifted_slice not in eval_slices:
        if not 0 < holdout < 1:
            raise ValueError(
                f"eval_slices has no drifted slice {gate.drifted_slice!r} and holdout={holdout}: "
                "pass held-out drifted data or a holdout share in (0, 1)"
            )
        perm = np.random.default_rng(seed).permutation(len(sel_ok))
        held_out = int(round(holdout * len(sel_ok)))
        eval_slices[gate.drifted_slice] = (X_pool[sel_ok[perm[:held_out]]], lab_ok[perm[:held_out]])
        train_idx = np.sort(perm[held_out:])

    if champion_metrics is None:
        t0 = time.perf_counter()
        champion_metrics = gate.evaluate(champion, eval_slices)
        timings["evaluate_champion"] = time.perf_counter() - t0

    if len(train_idx) == 0:
        decision = GateDecision(
            False,
            "no labeled sample to learn from (the selector picked none: the detector flagged "
            "nothing, or every sample was skipped) -> keep",
            {f"champion_{k}": v for k, v in champion_metrics.items()},
        )
        return RoundResult(
            selected,
            labels,
            None,
            champion_metrics,
            {},
            decision,
            int(ok.sum()),
            0,
            held_out,
            timings,
            drift,
        )

    t0 = time.perf_counter()
    X_lab, y_lab = X_pool[sel_ok[train_idx]], lab_ok[train_idx]
    candidate = strategy.improve(champion, X_train, y_train, X_lab, y_lab, seed=seed)
    timings["improve"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    candidate_metrics = gate.evaluate(candidate, eval_slices)
    timings["evaluate_candidate"] = time.perf_counter() - t0
    decision = gate.decide(champion_metrics, candidate_metrics)
    return RoundResult(
        selected,
        labels,
        candidate,
        champion_metrics,
        candidate_metrics,
        decision,
        int(ok.sum()),
        len(train_idx),
        held_out,
        timings,
        drift,
    )

"""Pick the samples worth a human's time: one ``Selector`` interface, six strategies.

Every selector answers ``select(X, budget, *, model=None, detector=None, seed=None)`` with the
positions (int64, distinct, at most ``budget``) of the samples of ``X`` to send for labeling.
Settings are keyword arguments of ``__init__`` (scikit-learn style) and
:func:`get_selector` builds one by name.

==================  ========================================================================
``reconstruction``  the Scanflow paper's rule: the samples the autoencoder detector
                    reconstructs worst, among those above its calibrated threshold (so a clean
                    batch spends no labels).
``entropy``         the model's predictive entropy, highest first.
``margin``          smallest gap between the model's two most probable classes.
``hybrid``          rank-average of reconstruction error and entropy (``weight`` on the former).
``kcenter``         diversity-aware: greedy k-center (farthest-first) over the detector's latent
                    features of the flagged samples, each distance weighted by the model's
                    uncertainty, so a batch is spread over the kinds of drift instead of ten
                    copies of the same stripe.
``random``          uniform without replacement: the baseline.
==================  ========================================================================

``model`` is any model :func:`scanflow.models.as_model` takes (it must give probabilities for
the uncertainty selectors); ``detector`` is any fitted :class:`scanflow.check.Detector`: its
per-sample ``score`` (the autoencoder's reconstruction error for ``ae`` and ``default``) and,
when it has them, its calibrated ``threshold_`` / ``lower_threshold_`` (which samples count as
flagged) and ``latent`` features (what ``kcenter`` spreads over; else the standardised raw
features). ``X`` is an array (images, rows) or a DataFrame.

Example:
    >>> import numpy as np
    >>> X = np.zeros((10, 4))
    >>> get_selector("random").select(X, 3, seed=0).tolist()
    [4, 6, 2]
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from scanflow.errors import ScanflowError
from scanflow.models import UnsupportedOperation, as_model, take
from scanflow.params import ParamsMixin

__all__ = [
    "SELECTORS",
    "EntropySelector",
    "HybridSelector",
    "KCenterSelector",
    "MarginSelector",
    "RandomSelector",
    "ReconstructionSelector",
    "SelectionError",
    "Selector",
    "get_selector",
]


class SelectionError(ScanflowError, ValueError):
    """A selector was called with a bad budget, or without the model/detector it needs."""


def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _ranks01(values: np.ndarray) -> np.ndarray:
    """Ranks scaled to [0, 1] (ties share the average rank): a scale-free score."""
    n = len(values)
    if n <= 1:
        return np.zeros(n)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(n)
    ranks[order] = np.arange(n)
    # average the ranks of ties so equal scores get equal ranks
    uniq, inv = np.unique(values, return_inverse=True)
    if len(uniq) < n:
        sums = np.bincount(inv, weights=ranks)
        counts = np.bincount(inv)
        ranks = (sums / counts)[inv]
    return ranks / (n - 1)


def _entropy(proba: np.ndarray) -> np.ndarray:
    p = np.clip(proba, 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=1)


def _margin(proba: np.ndarray) -> np.ndarray:
    top2 = np.sort(proba, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def _proba(model, X) -> np.ndarray:
    try:
        return as_model(model).predict_proba(X)
    except UnsupportedOperation as exc:
        raise SelectionError(f"this selector ranks by the model's probabilities: {exc}; use "
                             "'reconstruction', 'kcenter' or 'random'") from None


def detector_scores(detector, X) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample ``(scores, flagged)`` of any fitted detector: higher scores are more unusual;
    flagged samples lie beyond its calibrated per-sample threshold(s) (all of them when it has
    none)."""
    scores = np.asarray(detector.score(X), dtype=float)
    upper = getattr(detector, "threshold_", None)
    if upper is None:
        return scores, np.ones(len(scores), dtype=bool)
    flagged = scores > upper
    lower = getattr(detector, "lower_threshold_", None)
    if lower is not None:
        flagged |= scores < lower
    return scores, flagged


def features(detector, X) -> np.ndarray:
    """What diversity is measured on: the detector's latent features when it has them, else the
    raw features flattened; standardised per dimension."""
    if detector is not None and callable(getattr(detector, "latent", None)):
        Z = np.asarray(detector.latent(X), dtype=np.float64)
    else:
        Z = np.asarray(X.to_numpy(dtype=np.float64) if hasattr(X, "to_numpy") else X, dtype=np.float64)
    Z = Z.reshape(len(Z), -1)
    return (Z - Z.mean(axis=0)) / (Z.std(axis=0) + 1e-8)


def _top(scores: np.ndarray, budget: int, candidates: np.ndarray | None = None) -> np.ndarray:
    """Positions of the ``budget`` highest ``scores`` (restricted to ``candidates``)."""
    idx = np.arange(len(scores)) if candidates is None else np.asarray(candidates)
    if len(idx) == 0 or budget == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-scores[idx], kind="stable")[:budget]
    return idx[order].astype(np.int64)


class Selector(ParamsMixin, ABC):
    """Base class: settings in ``__init__``; ``select`` returns positions into ``X``.

    Subclasses set ``name``, ``needs_model`` / ``needs_detector`` and implement ``_select``.
    """

    name: ClassVar[str] = ""
    needs_model: ClassVar[bool] = False
    needs_detector: ClassVar[bool] = False

    def select(
        self, X, budget: int, *, model=None, detector=None, seed=None, rng=None
    ) -> np.ndarray:
        """Positions (int64, distinct, ``<= budget`` of them) of the samples to label."""
        if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 0:
            raise SelectionError(f"budget must be a non-negative integer, got {budget!r}")
        if self.needs_model and model is None:
            raise SelectionError(
                f"the {self.name!r} selector ranks by the model's uncertainty: pass model=..."
            )
        if self.needs_detector and detector is None:
            raise SelectionError(
                f"the {self.name!r} selector uses the detector's per-sample scores: pass "
                "detector=... (any fitted scanflow.check detector)"
            )
        n = len(X)
        if n == 0 or budget == 0:
            return np.zeros(0, dtype=np.int64)
        out = self._select(
            X,
            int(budget),
            model=model,
            detector=detector,
            rng=_rng(rng if rng is not None else seed),
        )
        out = np.asarray(out, dtype=np.int64)
        assert len(np.unique(out)) == len(out) <= budget, "selector returned duplicates"
        return out

    @abstractmethod
    def _select(self, X, budget, *, model, detector, rng) -> np.ndarray:
        """The indices of at most ``budget`` distinct samples of ``X`` (every subclass)."""


class RandomSelector(Selector):
    """Uniform sampling without replacement: the baseline every other strategy must beat."""

    name = "random"

    def __init__(self):
        pass

    def _select(self, X, budget, *, model, detector, rng):
        return rng.permutation(len(X))[:budget]


class ReconstructionSelector(Selector):
    """The paper's rule: the most unusual samples (highest detector score: the reconstruction
    error for the autoencoder detectors) among those beyond the detector's threshold.

    ``only_flagged=True`` (the default) never spends labels on samples the detector calls
    normal, so the round may use fewer than ``budget`` labels.
    """

    name = "reconstruction"
    needs_detector = True

    def __init__(self, *, only_flagged: bool = True):
        self.only_flagged = only_flagged

    def _select(self, X, budget, *, model, detector, rng):
        err, flagged = detector_scores(detector, X)
        cand = np.flatnonzero(flagged) if self.only_flagged else None
        return _top(err, budget, cand)


class EntropySelector(Selector):
    """Highest predictive entropy of the model first."""

    name = "entropy"
    needs_model = True

    def __init__(self):
        pass

    def _select(self, X, budget, *, model, detector, rng):
        return _top(_entropy(_proba(model, X)), budget)


class MarginSelector(Selector):
    """Smallest margin between the two most probable classes first."""

    name = "margin"
    needs_model = True

    def __init__(self):
        pass

    def _select(self, X, budget, *, model, detector, rng):
        return _top(-_margin(_proba(model, X)), budget)


class HybridSelector(Selector):
    """``weight * rank(reconstruction error) + (1 - weight) * rank(entropy)``, highest first.

    Ranks (scaled to [0, 1]) make the two scores comparable whatever their units.
    """

    name = "hybrid"
    needs_model = True
    needs_detector = True

    def __init__(self, *, weight: float = 0.5, only_flagged: bool = True):
        self.weight = weight
        self.only_flagged = only_flagged

    def _select(self, X, budget, *, model, detector, rng):
        if not 0.0 <= self.weight <= 1.0:
            raise SelectionError(f"weight must lie in [0, 1], got {self.weight}")
        err, flagged = detector_scores(detector, X)
        ent = _entropy(_proba(model, X))
        score = self.weight * _ranks01(err) + (1 - self.weight) * _ranks01(ent)
        cand = np.flatnonzero(flagged) if self.only_flagged else None
        return _top(score, budget, cand)


class KCenterSelector(Selector):
    """Greedy k-center (farthest-first traversal) on the detector's latent features.

    Starting from the most uncertain flagged sample, it repeatedly adds the sample whose
    distance to the chosen set, times ``uncertainty(x) ** uncertainty_power``, is largest.
    With ``uncertainty_power=0`` (or no model) it is the plain core-set rule; the default
    weighting steers the spread towards samples the model gets wrong rather than to the
    oddest-looking ones. Latent features are standardised per dimension first.
    ``only_flagged`` restricts candidates to samples above the detector threshold (falling
    back to all samples when none is flagged is *not* done: a clean batch spends no labels).
    """

    name = "kcenter"

    def __init__(self, *, uncertainty_power: float = 1.0, only_flagged: bool = True):
        self.uncertainty_power = uncertainty_power
        self.only_flagged = only_flagged

    @property
    def needs_detector(self) -> bool:  # without flags to respect, raw features will do
        return self.only_flagged

    def _select(self, X, budget, *, model, detector, rng):
        cand = np.flatnonzero(detector_scores(detector, X)[1]) if self.only_flagged else np.arange(len(X))
        if len(cand) == 0:
            return np.zeros(0, dtype=np.int64)
        Xc = take(X, cand)
        Z = features(detector, Xc)
        if model is not None and self.uncertainty_power:
            u = 1.0 - _margin(_proba(model, Xc))
            weight = np.clip(u, 1e-3, None) ** self.uncertainty_power
        else:
            weight = np.ones(len(cand))
        first = int(np.argmax(weight + 1e-9 * rng.random(len(cand))))
        chosen = [first]
        dist = np.linalg.norm(Z - Z[first], axis=1)
        for _ in range(min(budget, len(cand)) - 1):
            score = dist * weight
            score[chosen] = -1.0
            nxt = int(np.argmax(score))
            if score[nxt] <= 0:
                break
            chosen.append(nxt)
            dist = np.minimum(dist, np.linalg.norm(Z - Z[nxt], axis=1))
        return cand[np.asarray(chosen)]


SELECTORS: dict[str, type[Selector]] = {
    cls.name: cls
    for cls in (
        ReconstructionSelector,
        EntropySelector,
        MarginSelector,
        HybridSelector,
        KCenterSelector,
        RandomSelector,
    )
}


def get_selector(name: str, **kwargs) -> Selector:
    """Build a selector by name (``reconstruction``, ``entropy``, ``margin``, ``hybrid``,
    ``kcenter``, ``random``) with its keyword settings."""
    try:
        cls = SELECTORS[name]
    except KeyError:
        raise SelectionError(
            f"unknown selection strategy {name!r}; choose one of {', '.join(SELECTORS)}"
        ) from None
    try:
        return cls(**kwargs)
    except TypeError as exc:
        params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        raise SelectionError(
            f"bad settings for selector {name!r}: {exc}; it accepts {params or 'no settings'}"
        ) from None

"""Statistical two-sample drift tests: KS per feature, MMD with permutations, PSI.

All compare a new batch with the reference kept at fit time; images are flattened to pixel
features. The plain functions (``ks_per_feature``, ``mmd_permutation_test``, ``psi``,
``adjust_p_values``) are usable alone.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.normal(size=(500, 3))
    >>> KSDetector().fit(ref).predict(rng.normal(size=(200, 3)) + [0, 0, 1]).is_drift
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from .base import Detector, PreparedData
from .registry import register_detector
from .result import CheckResult

__all__ = [
    "KSDetector",
    "MMDDetector",
    "PSIDetector",
    "adjust_p_values",
    "chance_psi",
    "ks_per_feature",
    "mmd_permutation_test",
    "psi",
]

CORRECTIONS = ("bonferroni", "fdr")


def adjust_p_values(p: np.ndarray, method: str = "bonferroni") -> np.ndarray:
    """Multiple-testing adjusted p-values: Bonferroni or Benjamini-Hochberg (``"fdr"``)."""
    p = np.asarray(p, dtype=np.float64)
    if method == "bonferroni":
        return np.minimum(1.0, p * len(p))
    if method == "fdr":
        return stats.false_discovery_control(p, method="bh") if len(p) else p
    raise ValueError(f"correction={method!r}; choose one of {CORRECTIONS}")


def ks_per_feature(ref: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-sample KS statistic and p-value for every column of ``ref`` vs ``x``."""
    res = stats.ks_2samp(ref, x, axis=0)
    return np.atleast_1d(res.statistic), np.atleast_1d(res.pvalue)


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def median_bandwidth(x: np.ndarray, max_points: int = 1000, seed: int = 0) -> float:
    """Median heuristic: the median pairwise distance (a positive float)."""
    if len(x) > max_points:
        x = x[np.random.default_rng(seed).choice(len(x), max_points, replace=False)]
    d = np.sqrt(_sq_dists(x, x)[np.triu_indices(len(x), k=1)])
    d = d[d > 0]
    return float(np.median(d)) if d.size else 1.0


def mmd_permutation_test(
    ref: np.ndarray,
    x: np.ndarray,
    bandwidth: float,
    n_permutations: int = 200,
    seed: int = 0,
) -> tuple[float, float]:
    """Gaussian-kernel MMD² (biased estimate) between ``ref`` and ``x`` and its permutation
    p-value ``(1 + #{perm >= observed}) / (1 + n_permutations)``."""
    m, n = len(ref), len(x)
    z = np.concatenate([ref, x]).astype(np.float64)
    K = np.exp(-_sq_dists(z, z) / (2.0 * bandwidth**2))
    rng = np.random.default_rng(seed)
    labels = np.zeros((m + n, n_permutations + 1))
    base = np.r_[np.full(m, 1.0 / m), np.full(n, -1.0 / n)]
    labels[:, 0] = base
    for j in range(1, n_permutations + 1):
        labels[:, j] = base[rng.permutation(m + n)]
    stats_ = np.einsum("ij,ij->j", labels, K @ labels)
    observed = float(stats_[0])
    p = (1.0 + float((stats_[1:] >= observed - 1e-12).sum())) / (1.0 + n_permutations)
    return observed, p


def psi(ref: np.ndarray, x: np.ndarray, n_bins: int = 10, eps: float = 1e-4) -> float:
    """Population stability index of one numeric feature, quantile bins of ``ref``."""
    edges = _psi_edges(ref, n_bins)
    p = _bin_shares(ref, edges, eps)
    q = _bin_shares(x, edges, eps)
    return float(((q - p) * np.log(q / p)).sum())


def _psi_edges(ref: np.ndarray, n_bins: int) -> np.ndarray:
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, n_bins + 1)[1:-1]))
    return edges


def _bin_counts(values: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(inner_edges, values, side="right")
    return np.bincount(idx, minlength=len(inner_edges) + 1).astype(np.float64)


def _bin_shares(values: np.ndarray, inner_edges: np.ndarray, eps: float) -> np.ndarray:
    shares = _bin_counts(values, inner_edges) / max(1, len(values))
    return np.maximum(shares, eps)


def chance_psi(reference_counts: list[np.ndarray], reference_shares: list[np.ndarray], n: int,
               *, n_simulations: int = 1000, eps: float = 1e-4, seed: int = 0) -> np.ndarray:
    """Largest PSI over features of ``n_simulations`` clean batches of ``n`` rows.

    A clean batch's bin counts are multinomial with the bins' true masses, which are only
    known through the reference counts: they are drawn from Dirichlet(counts + 1/2).
    """
    rng = np.random.default_rng(seed)
    largest = np.zeros(n_simulations)
    for counts, p in zip(reference_counts, reference_shares, strict=True):
        mass = rng.dirichlet(np.asarray(counts, dtype=np.float64) + 0.5, size=n_simulations)
        mass /= mass.sum(1, keepdims=True)
        q = np.maximum(rng.multinomial(n, mass) / n, eps)
        largest = np.maximum(largest, ((q - p) * np.log(q / p)).sum(1))
    return largest


def _subsample(x: np.ndarray, max_n: int | None, seed: int) -> np.ndarray:
    if max_n is not None and len(x) > max_n:
        idx = np.sort(np.random.default_rng(seed).choice(len(x), max_n, replace=False))
        return x[idx]
    return x


# --------------------------------------------------------------------------- detectors


@register_detector("ks")
class KSDetector(Detector):
    """Kolmogorov-Smirnov test per feature, corrected for the number of features.

    Batch p-value: the smallest corrected p-value (Bonferroni or Benjamini-Hochberg FDR);
    drift when it is below ``alpha``. Per-sample score: ``-log10`` of the most extreme
    two-sided marginal tail probability of the sample under the reference.
    """

    def __init__(self, *, alpha: float = 0.05, correction: str = "bonferroni",
                 max_reference: int | None = 5000, random_state: int = 0):
        self.alpha = alpha
        self.correction = correction
        self.max_reference = max_reference
        self.random_state = random_state

    def _fit(self, data: PreparedData) -> None:
        if self.correction not in CORRECTIONS:
            raise ValueError(f"correction={self.correction!r}; choose one of {CORRECTIONS}")
        self.reference_ = np.sort(_subsample(data.flat(), self.max_reference, self.random_state),
                                  axis=0)

    def _score(self, data: PreparedData) -> np.ndarray:
        x = data.flat()
        ref = self.reference_
        n = len(ref)
        worst = np.ones(len(x))
        for j in range(ref.shape[1]):
            lo = np.searchsorted(ref[:, j], x[:, j], side="right")
            hi = n - np.searchsorted(ref[:, j], x[:, j], side="left")
            tail = np.minimum(1.0, 2.0 * np.minimum(lo + 1, hi + 1) / (n + 1))
            worst = np.minimum(worst, tail)
        return -np.log10(worst)

    def _predict(self, data: PreparedData) -> CheckResult:
        stat, p = ks_per_feature(self.reference_, data.flat())
        p = np.nan_to_num(p, nan=1.0)
        adj = adjust_p_values(p, self.correction)
        j = int(np.argmin(adj))
        names = self.feature_names_in_
        return CheckResult(
            detector=self.name,
            is_drift=bool(adj[j] < self.alpha),
            score=float(stat[j]),
            threshold=self.alpha,
            p_value=float(adj[j]),
            n_samples=len(data),
            instance_scores=self._score(data),
            metadata={
                "decision_rule": "p_value < threshold",
                "score_name": "KS statistic of the most significant feature",
                "correction": self.correction,
                "feature_p_values": adj,
                "feature_statistics": stat,
                "feature_names": names,
                "n_drifted_features": int((adj < self.alpha).sum()),
                "most_drifted_feature": names[j] if names else j,
            },
        )

    def _get_state(self):
        meta, arrays = super()._get_state()
        arrays["reference_"] = self.reference_
        return meta, arrays

    def _set_state(self, meta, arrays):
        super()._set_state(meta, arrays)
        self.reference_ = arrays["reference_"]


@register_detector("mmd")
class MMDDetector(Detector):
    """Maximum mean discrepancy (Gaussian kernel) with a permutation test.

    The bandwidth is the median pairwise distance of the reference (fixed at fit); tables
    are standardised with the reference mean / std. Per-sample score: ``1 - mean kernel
    similarity to the reference`` (0 = typical, 1 = far from every reference point).
    """

    def __init__(self, *, alpha: float = 0.05, n_permutations: int = 200,
                 max_reference: int | None = 1000, bandwidth: float | None = None,
                 standardize: bool = True, random_state: int = 0):
        self.alpha = alpha
        self.n_permutations = n_permutations
        self.max_reference = max_reference
        self.bandwidth = bandwidth
        self.standardize = standardize
        self.random_state = random_state

    @classmethod
    def _test_params(cls) -> dict[str, Any]:
        return {"n_permutations": 100, "max_reference": 300}

    def _features(self, data: PreparedData) -> np.ndarray:
        x = data.flat()
        if data.kind == "table" and self.standardize:
            x = (x - self.mean_) / self.scale_
        return x

    def _fit(self, data: PreparedData) -> None:
        x = data.flat()
        if data.kind == "table" and self.standardize:
            self.mean_ = x.mean(0)
            s = x.std(0)
            self.scale_ = np.where(s > 1e-12, s, 1.0)
            x = (x - self.mean_) / self.scale_
        self.reference_ = _subsample(x, self.max_reference, self.random_state)
        self.bandwidth_ = float(self.bandwidth or median_bandwidth(self.reference_,
                                                                    seed=self.random_state))

    def _score(self, data: PreparedData) -> np.ndarray:
        x = self._features(data)
        k = np.exp(-_sq_dists(x, self.reference_) / (2.0 * self.bandwidth_**2))
        return 1.0 - k.mean(1)

    def _predict(self, data: PreparedData) -> CheckResult:
        x = self._features(data)
        mmd2, p = mmd_permutation_test(self.reference_, x, self.bandwidth_,
                                       self.n_permutations, self.random_state)
        return CheckResult(
            detector=self.name,
            is_drift=p < self.alpha,
            score=mmd2,
            threshold=self.alpha,
            p_value=p,
            n_samples=len(x),
            instance_scores=self._score(data),
            metadata={
                "decision_rule": "p_value < threshold",
                "score_name": "MMD² (Gaussian kernel)",
                "bandwidth": self.bandwidth_,
                "n_permutations": self.n_permutations,
                "n_reference": len(self.reference_),
            },
        )

    def _get_state(self):
        meta, arrays = super()._get_state()
        meta["bandwidth_"] = self.bandwidth_
        arrays["reference_"] = self.reference_
        if hasattr(self, "mean_"):
            arrays["mean_"], arrays["scale_"] = self.mean_, self.scale_
        return meta, arrays

    def _set_state(self, meta, arrays):
        super()._set_state(meta, arrays)
        self.bandwidth_ = meta["bandwidth_"]
        self.reference_ = arrays["reference_"]
        if "mean_" in arrays:
            self.mean_, self.scale_ = arrays["mean_"], arrays["scale_"]


@register_detector("psi")
class PSIDetector(Detector):
    """Population stability index per numeric feature (quantile bins of the reference).

    The batch score is the largest PSI over features. PSI grows by chance on small batches
    (about ``(n_bins - 1) / n`` for ``n`` rows, and much more when a bin of the batch is
    empty) and on small references, so the decision compares it with an effective threshold
    for the batch's size::

        is_drift = PSI > max(threshold, chance_threshold(n))

    ``threshold`` is the usual rule of thumb (0.1 moderate, 0.2 significant).
    ``chance_threshold(n)`` is the PSI that clean batches of ``n`` rows exceed with
    probability ``alpha``: the ``1 - alpha`` quantile of the largest PSI over features
    between the reference and ``n_simulations`` simulated clean batches. The reference is a
    sample too, so each simulation draws the bins' true masses from
    Dirichlet(reference counts + 1/2), then the batch's counts from a multinomial of ``n``
    rows (features independently, which errs on the side of fewer alarms for correlated
    features). It is seeded (``random_state``) and cached per batch size: clean batches raise
    an alarm with probability at most ``alpha`` whatever their size.

    ``min_batch_size_`` (learned at fit) is the batch size PSI needs: the smallest size at
    which the chance level falls to ``threshold`` (searched on the grid ``10 * 1.25**k``),
    from which the decision is the classic ``PSI > threshold``. Smaller batches are still
    decided, against the raised threshold, and the result says so in
    ``metadata["below_min_batch_size"]`` and ``metadata["note"]``. ``None`` means even
    batches of a million rows would not get there: the reference is too small for this
    ``threshold`` (use more reference rows, fewer ``n_bins`` or a higher ``threshold``).
    Per-sample score: mean ``-log`` reference share of the bins the sample falls in.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> det = PSIDetector().fit(rng.normal(size=(1000, 3)))
        >>> det.predict(rng.normal(size=(50, 3))).is_drift  # chance PSI of 50 rows is high
        False
        >>> det.predict(rng.normal(size=(50, 3)) + [0, 0, 2]).is_drift
        True
    """

    input_kinds = ("table",)

    def __init__(self, *, n_bins: int = 10, threshold: float = 0.2, eps: float = 1e-4,
                 alpha: float = 0.05, n_simulations: int = 1000, random_state: int = 0):
        self.n_bins = n_bins
        self.threshold = threshold
        self.eps = eps
        self.alpha = alpha
        self.n_simulations = n_simulations
        self.random_state = random_state

    def _fit(self, data: PreparedData) -> None:
        if self.n_bins < 2:
            raise ValueError(f"n_bins={self.n_bins} must be >= 2")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha={self.alpha} must be in (0, 1)")
        if self.n_simulations < 100:
            raise ValueError(f"n_simulations={self.n_simulations} must be >= 100")
        x = data.flat()
        self.edges_ = [_psi_edges(x[:, j], self.n_bins) for j in range(x.shape[1])]
        self.reference_counts_ = [_bin_counts(x[:, j], e) for j, e in enumerate(self.edges_)]
        self.reference_shares_ = [np.maximum(c / len(x), self.eps)
                                  for c in self.reference_counts_]
        self._chance = {}
        self.min_batch_size_ = self._find_min_batch_size()

    def chance_threshold(self, n: int) -> float:
        """The largest PSI over features that clean batches of ``n`` rows exceed with
        probability ``alpha`` (see the class docstring)."""
        cache = self.__dict__.setdefault("_chance", {})
        if n not in cache:
            sims = chance_psi(self.reference_counts_, self.reference_shares_, int(n),
                              n_simulations=self.n_simulations, eps=self.eps,
                              seed=self.random_state)
            cache[n] = float(np.quantile(sims, 1 - self.alpha))
        return cache[n]

    def _find_min_batch_size(self, largest: int = 1_000_000) -> int | None:
        """Smallest grid size whose chance level is <= threshold (bisection on the grid)."""
        grid = np.unique(np.round(10 * 1.25 ** np.arange(0, 60)).astype(int))
        grid = grid[grid <= largest]
        if self.chance_threshold(int(grid[-1])) > self.threshold:
            return None
        lo, hi = -1, len(grid) - 1  # chance(grid[hi]) <= threshold
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.chance_threshold(int(grid[mid])) <= self.threshold:
                hi = mid
            else:
                lo = mid
        return int(grid[hi])

    def _score(self, data: PreparedData) -> np.ndarray:
        x = data.flat()
        total = np.zeros(len(x))
        for j, (edges, shares) in enumerate(zip(self.edges_, self.reference_shares_, strict=True)):
            total += -np.log(shares[np.searchsorted(edges, x[:, j], side="right")])
        return total / x.shape[1]

    def _feature_psi(self, x: np.ndarray) -> np.ndarray:
        values = []
        for j, (edges, p) in enumerate(zip(self.edges_, self.reference_shares_, strict=True)):
            q = _bin_shares(x[:, j], edges, self.eps)
            values.append(float(((q - p) * np.log(q / p)).sum()))
        return np.array(values)

    def _predict(self, data: PreparedData) -> CheckResult:
        x = data.flat()
        values = self._feature_psi(x)
        j = int(np.argmax(values))
        names = self.feature_names_in_
        chance = self.chance_threshold(len(x))
        effective = max(self.threshold, chance)
        return CheckResult(
            detector=self.name,
            is_drift=bool(values[j] > effective),
            score=float(values[j]),
            threshold=effective,
            n_samples=len(x),
            instance_scores=self._score(data),
            metadata={
                "decision_rule": "score > threshold",
                "score_name": "largest PSI over features",
                "psi_threshold": self.threshold,
                "chance_threshold": chance,
                **self._batch_size_report(len(x), chance),
                "feature_psi": values,
                "feature_names": names,
                "most_drifted_feature": names[j] if names else j,
            },
        )

    def _batch_size_report(self, n: int, chance: float) -> dict[str, Any]:
        below = self.min_batch_size_ is None or n < self.min_batch_size_
        report: dict[str, Any] = {"min_batch_size": self.min_batch_size_,
                                  "below_min_batch_size": below}
        if below and chance > self.threshold:
            needed = (f"min_batch_size {self.min_batch_size_}" if self.min_batch_size_
                      else "more reference rows than the detector was fitted on")
            report["note"] = (
                f"batch of {n} rows is below {needed}: clean batches of this size reach a "
                f"PSI of {chance:.3g} by chance (alpha={self.alpha}), so the threshold was "
                f"raised from {self.threshold:g} to {chance:.3g}"
            )
        return report

    def _get_state(self):
        meta, arrays = super()._get_state()
        for j, (e, s) in enumerate(zip(self.edges_, self.reference_shares_, strict=True)):
            arrays[f"edges/{j}"], arrays[f"shares/{j}"] = e, s
            arrays[f"counts/{j}"] = self.reference_counts_[j]
        meta["n_features"] = len(self.edges_)
        meta["min_batch_size_"] = self.min_batch_size_
        return meta, arrays

    def _set_state(self, meta, arrays):
        super()._set_state(meta, arrays)
        n = meta["n_features"]
        self.edges_ = [arrays[f"edges/{j}"] for j in range(n)]
        self.reference_shares_ = [arrays[f"shares/{j}"] for j in range(n)]
        self.reference_counts_ = [
            arrays[f"counts/{j}"] if f"counts/{j}" in arrays
            else np.round(np.where(s > self.eps, s, 0.0) * self.n_reference_)
            for j, s in enumerate(self.reference_shares_)
        ]
        self._chance = {}
        self.min_batch_size_ = (meta["min_batch_size_"] if "min_batch_size_" in meta
                                else self._find_min_batch_size())

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
        n = len(p)
        order = np.argsort(p)
        ranked = p[order] * n / np.arange(1, n + 1)
        ranked = np.minimum.accumulate(ranked[::-1])[::-1]
        out = np.empty(n)
        out[order] = np.minimum(1.0, ranked)
        return out
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


def _bin_shares(values: np.ndarray, inner_edges: np.ndarray, eps: float) -> np.ndarray:
    idx = np.searchsorted(inner_edges, values, side="right")
    counts = np.bincount(idx, minlength=len(inner_edges) + 1).astype(np.float64)
    shares = counts / max(1, len(values))
    return np.maximum(shares, eps)


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

    Drift when the largest PSI exceeds ``threshold`` (0.1 = moderate, 0.2 = significant by
    the usual rule of thumb). PSI has no p-value and grows on small batches by chance
    (roughly ``(n_bins - 1) / batch size``): use batches of a few hundred samples.
    Per-sample score: mean ``-log`` reference share of the bins the sample falls in.
    """

    input_kinds = ("table",)

    def __init__(self, *, n_bins: int = 10, threshold: float = 0.2, eps: float = 1e-4):
        self.n_bins = n_bins
        self.threshold = threshold
        self.eps = eps

    def _fit(self, data: PreparedData) -> None:
        if self.n_bins < 2:
            raise ValueError(f"n_bins={self.n_bins} must be >= 2")
        x = data.flat()
        self.edges_ = [_psi_edges(x[:, j], self.n_bins) for j in range(x.shape[1])]
        self.reference_shares_ = [_bin_shares(x[:, j], e, self.eps)
                                  for j, e in enumerate(self.edges_)]

    def _score(self, data: PreparedData) -> np.ndarray:
        x = data.flat()
        total = np.zeros(len(x))
        for j, (edges, shares) in enumerate(zip(self.edges_, self.reference_shares_, strict=True)):
            total += -np.log(shares[np.searchsorted(edges, x[:, j], side="right")])
        return total / x.shape[1]

    def _predict(self, data: PreparedData) -> CheckResult:
        x = data.flat()
        values = np.array([
            float(((q - p) * np.log(q / p)).sum())
            for p, q in (
                (shares, _bin_shares(x[:, j], edges, self.eps))
                for j, (edges, shares) in enumerate(zip(self.edges_, self.reference_shares_,
                                                        strict=True))
            )
        ])
        j = int(np.argmax(values))
        names = self.feature_names_in_
        return CheckResult(
            detector=self.name,
            is_drift=bool(values[j] > self.threshold),
            score=float(values[j]),
            threshold=self.threshold,
            n_samples=len(x),
            instance_scores=self._score(data),
            metadata={
                "decision_rule": "score > threshold",
                "score_name": "largest PSI over features",
                "feature_psi": values,
                "feature_names": names,
                "most_drifted_feature": names[j] if names else j,
            },
        )

    def _get_state(self):
        meta, arrays = super()._get_state()
        for j, (e, s) in enumerate(zip(self.edges_, self.reference_shares_, strict=True)):
            arrays[f"edges/{j}"], arrays[f"shares/{j}"] = e, s
        meta["n_features"] = len(self.edges_)
        return meta, arrays

    def _set_state(self, meta, arrays):
        super()._set_state(meta, arrays)
        n = meta["n_features"]
        self.edges_ = [arrays[f"edges/{j}"] for j in range(n)]
        self.reference_shares_ = [arrays[f"shares/{j}"] for j in range(n)]

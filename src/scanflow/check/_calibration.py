"""Calibration of per-sample scores on held-out reference data, shared by the AE and PCA.

The reference scores are computed ONCE at fit time on data the model did not train on and
stored with the detector; every later decision compares against them (never against the
batch itself). From them come:

* per-sample thresholds for a target false-positive rate ``fpr`` (both tails by default:
  corruptions that make images *easier* to reconstruct, such as lower contrast or blur,
  lower the error, so an upper threshold alone would miss them);
* per-sample conformal p-values ``(1 + #{ref as extreme}) / (n_ref + 1)``;
* a batch test of the new scores against the reference scores:
  ``ks`` (two-sample Kolmogorov-Smirnov, the whole distribution, default), ``cvm``
  (Cramér-von Mises), ``ranksum`` (Mann-Whitney U: are the batch's scores shifted? one-sided
  "higher" for ``tail="upper"``; the most powerful of these on batches of ten, and exact for
  any batch size, because it compares with the reference scores as a sample rather than as
  a known distribution), ``fisher`` (Fisher's combination of per-sample two-sided p-values) or
  ``binomial`` (is the share of flagged samples above ``fpr``?).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .result import CheckResult

BATCH_TESTS = ("ks", "cvm", "ranksum", "fisher", "binomial")
TAILS = ("two-sided", "upper")


def validate_calibration_params(obj) -> None:
    if obj.tail not in TAILS:
        raise ValueError(f"tail={obj.tail!r}; choose one of {TAILS}")
    if obj.batch_test not in BATCH_TESTS:
        raise ValueError(f"batch_test={obj.batch_test!r}; choose one of {BATCH_TESTS}")
    if not 0 < obj.fpr < 1:
        raise ValueError(f"fpr={obj.fpr} must be in (0, 1)")
    if not 0 < obj.alpha < 1:
        raise ValueError(f"alpha={obj.alpha} must be in (0, 1)")
    if not 0 < obj.calibration_fraction < 1:
        raise ValueError(f"calibration_fraction={obj.calibration_fraction} must be in (0, 1)")


def split_calibration(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, calibration); at least 1 sample in each when n >= 2."""
    if n < 2:
        raise ValueError(
            f"need at least 2 reference samples to hold some out for calibration, got {n}"
        )
    perm = np.random.default_rng(seed).permutation(n)
    n_cal = min(n - 1, max(1, int(round(n * fraction))))
    return np.sort(perm[n_cal:]), np.sort(perm[:n_cal])


class CalibratedScoresMixin:
    """Needs attributes ``fpr``, ``tail``, ``alpha``, ``batch_test`` on the detector."""

    def _calibrate(self, reference_scores: np.ndarray) -> None:
        ref = np.sort(np.asarray(reference_scores, dtype=np.float64))
        self.reference_scores_ = ref
        if self.tail == "two-sided":
            self.lower_threshold_ = float(np.quantile(ref, self.fpr / 2, method="lower"))
            self.threshold_ = float(np.quantile(ref, 1 - self.fpr / 2, method="higher"))
        else:
            self.lower_threshold_ = None
            self.threshold_ = float(np.quantile(ref, 1 - self.fpr, method="higher"))

    def _tail_p_values(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ref = self.reference_scores_
        n = len(ref)
        n_ge = n - np.searchsorted(ref, scores, side="left")
        n_le = np.searchsorted(ref, scores, side="right")
        return (1.0 + n_ge) / (n + 1.0), (1.0 + n_le) / (n + 1.0)

    def _p_values_from_scores(self, scores: np.ndarray) -> np.ndarray:
        upper, lower = self._tail_p_values(scores)
        if self.tail == "upper":
            return upper
        return np.minimum(1.0, 2.0 * np.minimum(upper, lower))

    def _flags(self, scores: np.ndarray) -> np.ndarray:
        flags = scores > self.threshold_
        if self.lower_threshold_ is not None:
            flags |= scores < self.lower_threshold_
        return flags

    def predict_scores(self, scores) -> CheckResult:
        """What ``predict(X)`` decides, from ``scores = score(X)`` computed earlier: the batch test
        and the per-sample flags, without running the detector on ``X`` again (a service that
        scored each input as it was served decides its drift windows this way). The
        detector-specific metadata of ``predict`` (e.g. per-feature errors) is not included."""
        self._check_fitted()
        scores = np.asarray(scores, dtype=np.float64)
        flags = self._flags(scores)
        stat, p, details = self._batch_decision(scores)
        return CheckResult(
            detector=self.name, is_drift=p < self.alpha, score=stat, threshold=self.alpha,
            p_value=p, n_samples=len(scores), is_outlier=flags.tolist(),
            instance_scores=scores.tolist(), instance_threshold=self.threshold_,
            metadata={"decision_rule": "p_value < threshold", "from_scores": True,
                      "lower_instance_threshold": self.lower_threshold_,
                      "share_flagged": float(flags.mean()) if len(flags) else 0.0, **details},
        )

    def _batch_decision(self, scores: np.ndarray) -> tuple[float, float, dict]:
        """(statistic, p-value, details) of the configured batch test."""
        ref = self.reference_scores_
        n = len(scores)
        if self.batch_test == "ks":
            res = stats.ks_2samp(ref, scores, alternative="two-sided")
            stat, p = float(res.statistic), float(res.pvalue)
        elif self.batch_test == "cvm":
            res = stats.cramervonmises_2samp(ref, scores)
            stat, p = float(res.statistic), float(res.pvalue)
        elif self.batch_test == "ranksum":
            side = "greater" if self.tail == "upper" else "two-sided"
            res = stats.mannwhitneyu(scores, ref, alternative=side)
            stat, p = float(res.statistic) / (n * len(ref)), float(res.pvalue)
        elif self.batch_test == "fisher":
            pv = np.clip(self._p_values_from_scores(scores), 1e-300, 1.0)
            stat = float(-2.0 * np.log(pv).sum())
            p = float(stats.chi2.sf(stat, 2 * n))
        else:  # binomial on the flagged share
            k = int(self._flags(scores).sum())
            stat = k / n
            p = float(stats.binomtest(k, n, self.fpr, alternative="greater").pvalue)
        median_shift = float(np.median(scores) - np.median(ref))
        return stat, p, {
            "batch_test": self.batch_test,
            "median_score_shift": median_shift,
            "direction": "higher" if median_shift > 0 else "lower",
        }

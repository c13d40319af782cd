"""PCA reconstruction-error drift for tables (and flattened images).

Fit standardises the reference, keeps the principal components that explain
``n_components`` of the variance (or that many components when an int), and calibrates the
per-sample reconstruction error on a held-out part of the reference. A batch drifts when its
errors differ from the reference errors (two-sample KS by default): this catches changes in
the *correlations* between features that per-feature tests miss. On tables the result also
carries ``metadata["feature_error_ratio"]``: per feature, the batch's mean squared
reconstruction error over the held-out reference's (a shift in one column can raise the
ratio of the columns correlated with it too).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(1000, 1))
    >>> ref = np.hstack([z, z + 0.1 * rng.normal(size=(1000, 1))])  # correlated features
    >>> det = PCADetector(n_components=1).fit(ref)
    >>> det.predict(rng.normal(size=(200, 2))).is_drift  # same marginals, no correlation
    True
"""

from __future__ import annotations

import numpy as np

from ._calibration import CalibratedScoresMixin, split_calibration, validate_calibration_params
from .base import Detector, PreparedData
from .registry import register_detector
from .result import CheckResult

__all__ = ["PCADetector"]


@register_detector("pca")
class PCADetector(CalibratedScoresMixin, Detector):
    """PCA reconstruction-error detector (numpy only)."""

    def __init__(self, *, n_components: float | int = 0.95, fpr: float = 0.05,
                 tail: str = "two-sided", alpha: float = 0.05, batch_test: str = "ks",
                 calibration_fraction: float = 0.2, random_state: int = 0):
        self.n_components = n_components
        self.fpr = fpr
        self.tail = tail
        self.alpha = alpha
        self.batch_test = batch_test
        self.calibration_fraction = calibration_fraction
        self.random_state = random_state

    def _fit(self, data: PreparedData) -> None:
        validate_calibration_params(self)
        x = data.flat()
        train, cal = split_calibration(len(x), self.calibration_fraction, self.random_state)
        ref = x[train]
        self.mean_ = ref.mean(0)
        std = ref.std(0)
        self.scale_ = np.where(std > 1e-12, std, 1.0)
        standardized = (ref - self.mean_) / self.scale_
        _, sing, vt = np.linalg.svd(standardized, full_matrices=False)
        var = sing**2
        ratio = np.cumsum(var) / max(var.sum(), 1e-300)
        if isinstance(self.n_components, float) and 0 < self.n_components <= 1:
            k = int(np.searchsorted(ratio, self.n_components) + 1)
        elif isinstance(self.n_components, (int, np.integer)) and self.n_components >= 1:
            k = int(self.n_components)
        else:
            raise ValueError(
                f"n_components={self.n_components!r}: give a variance share in (0, 1] or a "
                "component count >= 1"
            )
        k = min(k, vt.shape[0])
        self.components_ = vt[:k]
        self.explained_variance_ratio_ = float(ratio[k - 1])
        self._calibrate(self._errors(x[cal]))
        self.reference_feature_errors_ = self._feature_errors(x[cal]).mean(0)

    def _feature_errors(self, x: np.ndarray) -> np.ndarray:
        """Squared reconstruction error per sample and feature (standardised units)."""
        z = (x - self.mean_) / self.scale_
        recon = (z @ self.components_.T) @ self.components_
        return (z - recon) ** 2

    def _errors(self, x: np.ndarray) -> np.ndarray:
        return self._feature_errors(x).mean(1)

    def _feature_report(self, data: PreparedData) -> dict:
        """Per-feature results for tables: mean squared error of the batch / of the reference."""
        reference = getattr(self, "reference_feature_errors_", None)
        if data.kind != "table" or reference is None:
            return {}
        batch = self._feature_errors(data.flat()).mean(0)
        return {"feature_error_ratio": batch / np.maximum(reference, 1e-12),
                "feature_names": self.feature_names_in_}

    def _score(self, data: PreparedData) -> np.ndarray:
        return self._errors(data.flat())

    def _predict(self, data: PreparedData) -> CheckResult:
        errors = self._score(data)
        flags = self._flags(errors)
        stat, p, details = self._batch_decision(errors)
        return CheckResult(
            detector=self.name,
            is_drift=p < self.alpha,
            score=stat,
            threshold=self.alpha,
            p_value=p,
            n_samples=len(errors),
            is_outlier=flags,
            instance_scores=errors,
            instance_threshold=self.threshold_,
            metadata={
                "decision_rule": "p_value < threshold",
                "score_name": f"{details['batch_test']} statistic on PCA reconstruction error",
                "n_components": int(len(self.components_)),
                "explained_variance_ratio": self.explained_variance_ratio_,
                "lower_instance_threshold": self.lower_threshold_,
                "share_flagged": float(flags.mean()),
                **details,
                **self._feature_report(data),
            },
        )

    def _get_state(self):
        meta, arrays = super()._get_state()
        meta.update(threshold_=self.threshold_, lower_threshold_=self.lower_threshold_,
                    explained_variance_ratio_=self.explained_variance_ratio_)
        arrays.update(mean_=self.mean_, scale_=self.scale_, components_=self.components_,
                      reference_scores_=self.reference_scores_)
        if self.reference_feature_errors_ is not None:  # None in files saved before it
            arrays["reference_feature_errors_"] = self.reference_feature_errors_
        return meta, arrays

    def _set_state(self, meta, arrays):
        super()._set_state(meta, arrays)
        self.threshold_ = meta["threshold_"]
        self.lower_threshold_ = meta["lower_threshold_"]
        self.explained_variance_ratio_ = meta["explained_variance_ratio_"]
        self.mean_, self.scale_ = arrays["mean_"], arrays["scale_"]
        self.components_ = arrays["components_"]
        self.reference_scores_ = arrays["reference_scores_"]
        self.reference_feature_errors_ = arrays.get("reference_feature_errors_")

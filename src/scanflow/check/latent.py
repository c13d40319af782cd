"""Detectors on an autoencoder's latent space, and the default detector.

* :class:`LatentDriftDetector` (``"latent"``): KS or MMD on the latent features of an
  autoencoder, trained on the reference (``trained=True``) or left at its random
  initialisation (``trained=False``: the common "untrained encoder" baseline).
* :class:`DefaultDetector` (``"default"``): one autoencoder and, on images, one pose
  regressor; their tests combined with a (weighted) Bonferroni correction —

  1. the whole distribution of reconstruction errors vs the held-out reference errors
     (two-sided KS): catches shifts that make images harder *or easier* to reconstruct;
  2. MMD with a permutation test on the latent features vs the latent features of the
     held-out reference: catches shifts of what the images show (scale, fog, a stripe);
  3. images only (``pose=True``): the :class:`~scanflow.check.pose.PoseDetector`, a
     self-supervised pose regressor whose distances are ranked against the held-out
     reference (one-sided Mann-Whitney): catches geometric shifts (rotate, shear) that the
     AE reconstructs about as well as clean digits, in batches as small as ten.

  Every reference is the calibration part of the reference, which the networks never
  trained on, so clean data is not penalised for their over-fitting.

Example:
    >>> from scanflow.datasets import load_mnist, corrupt
    >>> X, _ = load_mnist("train", limit=600)
    >>> detector = default_detector(epochs=3).fit(X)
    >>> detector.predict(corrupt(X[:100], "scale")).is_drift
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .autoencoder import AutoencoderDetector
from .base import Detector, PreparedData
from .pose import PoseDetector
from .registry import register_detector
from .result import CheckResult
from .stats import CORRECTIONS, KSDetector, MMDDetector

__all__ = ["DefaultDetector", "LatentDriftDetector", "default_detector"]

LATENT_TESTS = ("mmd", "ks")

#: Shares of ``alpha`` of the default detector's tests, without and with the pose test.
WEIGHTS = {
    False: {"reconstruction_error": 0.5, "latent": 0.5},
    True: {"reconstruction_error": 0.5, "latent": 0.25, "pose": 0.25},
}


def _weight_key(component: str) -> str:
    return "latent" if component.startswith("latent_") else component


def _latent_test(test: str, *, alpha, correction, n_permutations, max_reference, random_state):
    if test == "mmd":
        return MMDDetector(alpha=alpha, n_permutations=n_permutations,
                           max_reference=max_reference, random_state=random_state)
    if test == "ks":
        return KSDetector(alpha=alpha, correction=correction, max_reference=max_reference,
                          random_state=random_state)
    raise ValueError(f"test={test!r}; choose one of {LATENT_TESTS}")


def _strip(result: CheckResult) -> dict[str, Any]:
    """A component result without its per-sample lists (they live in the parent)."""
    d = result.to_dict()
    d.pop("is_outlier", None)
    d.pop("instance_scores", None)
    return d


@register_detector("latent")
class LatentDriftDetector(Detector):
    """A two-sample test (``"mmd"`` or ``"ks"``) on autoencoder latent features."""

    def __init__(self, *, test: str = "mmd", trained: bool = True, latent_dim: int = 16,
                 epochs: int = 12, alpha: float = 0.05, correction: str = "bonferroni",
                 n_permutations: int = 200, max_reference: int | None = 1000,
                 random_state: int = 0, n_threads: int | None = None):
        self.test = test
        self.trained = trained
        self.latent_dim = latent_dim
        self.epochs = epochs
        self.alpha = alpha
        self.correction = correction
        self.n_permutations = n_permutations
        self.max_reference = max_reference
        self.random_state = random_state
        self.n_threads = n_threads

    @classmethod
    def _test_params(cls) -> dict[str, Any]:
        return {"epochs": 3, "latent_dim": 8, "n_permutations": 100, "max_reference": 300}

    def _fit(self, data: PreparedData) -> None:
        if self.test not in LATENT_TESTS:
            raise ValueError(f"test={self.test!r}; choose one of {LATENT_TESTS}")
        if self.correction not in CORRECTIONS:
            raise ValueError(f"correction={self.correction!r}; choose one of {CORRECTIONS}")
        if self.trained and self.epochs < 1:
            raise ValueError("trained=True needs epochs >= 1; use trained=False for an "
                             "untrained encoder")
        self.encoder_ = AutoencoderDetector(
            latent_dim=self.latent_dim, epochs=self.epochs if self.trained else 0,
            random_state=self.random_state, n_threads=self.n_threads,
        ).fit(data.values)
        # an untrained encoder has not seen any sample: all of the reference is held out
        ref = data.values[self.encoder_.calibration_indices_] if self.trained else data.values
        self.test_ = _latent_test(
            self.test, alpha=self.alpha, correction=self.correction,
            n_permutations=self.n_permutations, max_reference=self.max_reference,
            random_state=self.random_state,
        ).fit(self.encoder_.latent(ref))
        self.reference_scores_ = self.test_.score(self.encoder_.latent(ref))

    def latent(self, X) -> np.ndarray:
        self._check_fitted()
        return self.encoder_.latent(self._align_columns(X))

    def _score(self, data: PreparedData) -> np.ndarray:
        return self.test_.score(self.encoder_.latent(data.values))

    def _predict(self, data: PreparedData) -> CheckResult:
        r = self.test_.predict(self.encoder_.latent(data.values))
        meta = dict(r.metadata)
        meta.update(space="latent", test=self.test, trained_encoder=self.trained)
        return r.model_copy(update={"detector": self.name, "metadata": meta})

    def _get_state(self):
        meta, arrays = super()._get_state()
        meta["encoder_"], a1 = self._nest("encoder", self.encoder_)
        meta["test_"], a2 = self._nest("test", self.test_)
        arrays.update(a1)
        arrays.update(a2)
        arrays["reference_scores_"] = self.reference_scores_
        return meta, arrays

    def _set_state(self, meta, arrays):
        super()._set_state(meta, arrays)
        self.encoder_ = self._unnest("encoder", meta["encoder_"], arrays)
        self.test_ = self._unnest("test", meta["test_"], arrays)
        self.reference_scores_ = arrays["reference_scores_"]


@register_detector("default")
class DefaultDetector(Detector):
    """The detector Scanflow runs by default: AE error test + latent MMD, and the pose test
    on images (see module doc).

    The batch p-value is ``min(1, min_i p_i / w_i)`` over its components (weighted
    Bonferroni, weights summing to 1), so a clean batch raises an alarm with probability at
    most ``alpha``. The reconstruction-error test keeps half of ``alpha`` (as before the pose
    test); the latent MMD and the pose test share the other half on images (``WEIGHTS``).
    Per-sample flags and scores are those of the autoencoder (two-tailed, calibrated at
    ``fpr``). ``pose=False`` leaves the pose test out; tables never have it.
    """

    def __init__(self, *, alpha: float = 0.05, fpr: float = 0.05, latent_dim: int = 16,
                 epochs: int = 12, batch_test: str = "ks", latent_test: str = "mmd",
                 n_permutations: int = 200, max_reference: int | None = 2000,
                 denoising: bool = False, pose: bool = True, pose_epochs: int = 10,
                 random_state: int = 0, n_threads: int | None = None):
        self.alpha = alpha
        self.fpr = fpr
        self.latent_dim = latent_dim
        self.epochs = epochs
        self.batch_test = batch_test
        self.latent_test = latent_test
        self.n_permutations = n_permutations
        self.max_reference = max_reference
        self.denoising = denoising
        self.pose = pose
        self.pose_epochs = pose_epochs
        self.random_state = random_state
        self.n_threads = n_threads

    @classmethod
    def _test_params(cls) -> dict[str, Any]:
        return {"epochs": 3, "latent_dim": 8, "n_permutations": 100, "max_reference": 300,
                "pose_epochs": 2}

    def _fit(self, data: PreparedData) -> None:
        w = WEIGHTS[self.pose and data.kind == "image"]
        self.autoencoder_ = AutoencoderDetector(
            latent_dim=self.latent_dim, epochs=self.epochs, fpr=self.fpr,
            alpha=self.alpha * w["reconstruction_error"], batch_test=self.batch_test,
            denoising=self.denoising, random_state=self.random_state, n_threads=self.n_threads,
        ).fit(data.values)
        held_out = data.values[self.autoencoder_.calibration_indices_]
        self.latent_ = _latent_test(
            self.latent_test, alpha=self.alpha * w["latent"], correction="bonferroni",
            n_permutations=self.n_permutations, max_reference=self.max_reference,
            random_state=self.random_state,
        ).fit(self.autoencoder_.latent(held_out))
        self.pose_ = None
        if "pose" in w:
            self.pose_ = PoseDetector(
                epochs=self.pose_epochs, alpha=self.alpha * w["pose"], fpr=self.fpr,
                random_state=self.random_state, n_threads=self.n_threads,
            ).fit(data.values)
        self.reference_scores_ = self.autoencoder_.reference_scores_
        self.threshold_ = self.autoencoder_.threshold_

    # the AE's per-sample API, for callers that treat this detector as an outlier detector
    # (the inner AE was fitted on arrays: columns are matched by name here, once)
    def latent(self, X) -> np.ndarray:
        self._check_fitted()
        return self.autoencoder_.latent(self._align_columns(X))

    def reconstruct(self, X) -> np.ndarray:
        self._check_fitted()
        return self.autoencoder_.reconstruct(self._align_columns(X))

    def p_values(self, X) -> np.ndarray:
        self._check_fitted()
        return self.autoencoder_.p_values(self._align_columns(X))

    def _score(self, data: PreparedData) -> np.ndarray:
        return self.autoencoder_._score(data)

    def _components(self, data: PreparedData) -> dict[str, CheckResult]:
        """Each test's result on the batch, by component name."""
        results = {
            "reconstruction_error": self.autoencoder_._predict(data),
            f"latent_{self.latent_test}": self.latent_.predict(
                self.autoencoder_.latent(data.values)),
        }
        if self.pose_ is not None:
            results["pose"] = self.pose_._predict(data)
        return results

    def _predict(self, data: PreparedData) -> CheckResult:
        parts = self._components(data)
        r_err = parts["reconstruction_error"]
        w = WEIGHTS[self.pose_ is not None]
        p = min(1.0, min(r.p_value / w[_weight_key(name)] for name, r in parts.items()))
        return CheckResult(
            detector=self.name,
            is_drift=p < self.alpha,
            score=-np.log10(max(p, 1e-300)),
            threshold=self.alpha,
            p_value=p,
            n_samples=len(data),
            is_outlier=r_err.is_outlier,
            instance_scores=r_err.instance_scores,
            instance_threshold=r_err.instance_threshold,
            metadata={
                "decision_rule": "p_value < threshold",
                "score_name": "-log10 of the combined (weighted Bonferroni) p-value",
                "combination": "weighted bonferroni",
                "weights": {name: w[_weight_key(name)] for name in parts},
                "lower_instance_threshold": r_err.metadata.get("lower_instance_threshold"),
                "share_flagged": r_err.metadata.get("share_flagged"),
                "components": {name: _strip(r) for name, r in parts.items()},
                **self._feature_report(r_err),
            },
        )

    def _feature_report(self, r_err: CheckResult) -> dict[str, Any]:
        """The AE's per-feature error ratios (tables), under the reference column names."""
        ratio = r_err.metadata.get("feature_error_ratio")
        if ratio is None:
            return {}
        return {"feature_error_ratio": ratio, "feature_names": self.feature_names_in_}

    def _get_state(self):
        meta, arrays = super()._get_state()
        meta["autoencoder_"], a1 = self._nest("ae", self.autoencoder_)
        meta["latent_"], a2 = self._nest("latent", self.latent_)
        arrays.update(a1)
        arrays.update(a2)
        if self.pose_ is not None:
            meta["pose_"], a3 = self._nest("pose", self.pose_)
            arrays.update(a3)
        return meta, arrays

    def _set_state(self, meta, arrays):
        super()._set_state(meta, arrays)
        self.autoencoder_ = self._unnest("ae", meta["autoencoder_"], arrays)
        self.latent_ = self._unnest("latent", meta["latent_"], arrays)
        # files saved before the pose test have no "pose_": they keep deciding on two tests
        self.pose_ = self._unnest("pose", meta["pose_"], arrays) if "pose_" in meta else None
        self.reference_scores_ = self.autoencoder_.reference_scores_
        self.threshold_ = self.autoencoder_.threshold_


def default_detector(**params) -> DefaultDetector:
    """The default detector (unfitted): ``default_detector().fit(X_ref).predict(batch)``."""
    return DefaultDetector(**params)

"""A detector that learns which shifts the deployed model already handles: accepted references.

After the loop adapted the model to a shift (a promotion ended a drift episode), the shifted
data is *normal* for the deployed model: alarming on it again would ask people for labels
forever. :class:`AcceptingDetector` wraps a fitted instance-level detector (the base: ``default``,
``ae``, ``pca``...) and keeps one small autoencoder per accepted shift, fitted on the episode's
samples (:meth:`AcceptingDetector.accept`).

Until something is accepted it decides exactly as its base. Afterwards a sample is *novel* when
the base flags it **and** every accepted reference flags it too (it looks like neither the
training data nor any shift the model was adapted to); a batch drifts when its share of novel
samples is significantly above what the references' calibrated false-positive rate allows
(one-sided binomial test at ``alpha``). So a batch of the accepted shift, of clean data or of a
mixture of both raises no alarm, while a new kind of shift does. The trade-off, documented:
after the first acceptance the decision rests on per-sample flags, which are less sensitive to
subtle shifts (rotations, small scalings) than the base's distribution tests.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.normal(size=(600, 4))
    >>> det = AcceptingDetector(base="pca", base_params={"n_components": 2}, epochs=30).fit(ref)
    >>> shifted = rng.normal(size=(300, 4)) + [4, 0, 0, 0]
    >>> det.predict(shifted[:100]).is_drift
    True
    >>> _ = det.accept(shifted[100:])
    >>> det.predict(shifted[:100]).is_drift, det.predict(rng.normal(size=(100, 4))).is_drift
    (False, False)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from .autoencoder import AutoencoderDetector
from .base import Detector, DetectorInputError, PreparedData
from .registry import get_detector, register_detector
from .result import CheckResult

__all__ = ["AcceptingDetector"]


def _flags(result: CheckResult, name: str) -> np.ndarray:
    if result.is_outlier is None:
        raise DetectorInputError(
            f"the {name!r} detector gives no per-sample flags, which accepting a shift needs: "
            "use an instance-level detector (default, ae, pca, integrity) as the base")
    return np.asarray(result.is_outlier, dtype=bool)


@register_detector("accepting")
class AcceptingDetector(Detector):
    """A base detector plus the shifts accepted since (see the module docstring).

    Parameters:
        base, base_params: the registered detector to fit on the reference (``fit``), or use
            :meth:`wrap` around one already fitted.
        alpha: significance of the novelty test once a shift is accepted.
        fpr: per-sample false-positive rate of each accepted reference.
        epochs, latent_dim: the autoencoder of each accepted reference.
        max_samples: most samples of a shift an accepted reference learns from.
        random_state: seed of those autoencoders.
    """

    def __init__(self, *, base: str = "default", base_params: dict | None = None,
                 alpha: float = 0.001, fpr: float = 0.05, epochs: int = 15, latent_dim: int = 16,
                 max_samples: int = 1500, random_state: int = 0):
        self.base = base
        self.base_params = base_params
        self.alpha = alpha
        self.fpr = fpr
        self.epochs = epochs
        self.latent_dim = latent_dim
        self.max_samples = max_samples
        self.random_state = random_state

    @classmethod
    def _test_params(cls) -> dict[str, Any]:
        return {"base": "ae", "base_params": AutoencoderDetector._test_params(), "epochs": 2,
                "latent_dim": 8}

    @classmethod
    def wrap(cls, base: Detector, **params: Any) -> AcceptingDetector:
        """An accepting detector around an already fitted ``base`` (returned as is if it is one)."""
        if isinstance(base, AcceptingDetector):
            return base
        base._check_fitted()
        obj = cls(base=base.name, base_params=base.get_params(), **params)
        obj.base_ = base
        obj.accepted_, obj.accepted_keys_ = [], []
        for attr in ("input_kind_", "input_shape_", "feature_names_in_", "n_reference_"):
            setattr(obj, attr, getattr(base, attr))
        return obj

    @property
    def n_accepted(self) -> int:
        return len(getattr(self, "accepted_", []))

    def _fit(self, data: PreparedData) -> None:
        self.base_ = get_detector(self.base, **(self.base_params or {})).fit(self._raw(data))
        self.accepted_: list[AutoencoderDetector] = []
        self.accepted_keys_: list[str | None] = []

    @staticmethod
    def _raw(data: PreparedData) -> Any:
        if data.columns:
            # lazy: pandas, slow to import; only DataFrame input needs it
            import pandas as pd

            return pd.DataFrame(data.values, columns=data.columns)
        return data.values

    def accept(self, X, key: str | None = None) -> AcceptingDetector:
        """Learn ``X`` (samples of a shift the model now handles) as normal from now on (at most
        ``max_samples`` of them, drawn at random: enough to learn what the shift looks like).

        ``key`` names the decision that accepts it: accepting again under a key already
        accepted (a replay after a crash) changes nothing."""
        self._check_fitted()
        if key is not None and key in self.accepted_keys_:
            return self
        data = self._prepare(X, fitting=False)
        if len(data) > self.max_samples:
            keep = np.sort(np.random.default_rng(self.random_state).choice(
                len(data), self.max_samples, replace=False))
            data = type(data)(data.values[keep], data.kind, data.columns)
        self.accepted_.append(self._reference(data))
        self.accepted_keys_.append(key)
        return self

    def _reference(self, data: PreparedData) -> AutoencoderDetector:
        """The fitted reference of one accepted shift."""
        ref = AutoencoderDetector(epochs=self.epochs, latent_dim=self.latent_dim, fpr=self.fpr,
                                  random_state=self.random_state + len(self.accepted_))
        return ref.fit(data.values)

    def _novel(self, data: PreparedData, base: CheckResult) -> np.ndarray:
        novel = _flags(base, self.base)
        for ref in self.accepted_:
            novel = novel & _flags(ref._predict(ref._prepare(data.values, fitting=False)), "ae")
        return novel

    def _score(self, data: PreparedData) -> np.ndarray:
        return self.base_.score(self._raw(data))

    def _predict(self, data: PreparedData) -> CheckResult:
        base = self.base_.predict(self._raw(data))
        if not self.accepted_:
            meta = {**base.metadata, "base_detector": base.detector, "n_accepted": 0}
            return base.model_copy(update={"detector": self.name, "metadata": meta})
        novel = self._novel(data, base)
        k, n = int(novel.sum()), len(novel)
        p = float(stats.binomtest(k, n, self.fpr, alternative="greater").pvalue)
        return CheckResult(
            detector=self.name, is_drift=p < self.alpha, score=k / n, threshold=self.alpha,
            p_value=p, n_samples=n, is_outlier=novel, instance_scores=base.instance_scores,
            instance_threshold=base.instance_threshold,
            metadata={"decision_rule": "p_value < threshold (binomial test of novel samples)",
                      "score_name": "share of samples unlike the reference and every accepted shift",
                      "n_accepted": len(self.accepted_), "share_novel": k / n,
                      "base": base.to_dict() | {"is_outlier": None, "instance_scores": None}})

    # ------------------------------------------------------------------ persistence
    def _get_state(self):
        meta, arrays = super()._get_state()
        meta["base_"], a = self._nest("base", self.base_)
        arrays.update(a)
        meta["accepted_"], meta["accepted_keys_"] = [], list(self.accepted_keys_)
        for i, ref in enumerate(self.accepted_):
            m, a = self._nest(f"accepted{i}", ref)
            meta["accepted_"].append(m)
            arrays.update(a)
        return meta, arrays

    def _set_state(self, meta, arrays):
        super()._set_state(meta, arrays)
        self.base_ = self._unnest("base", meta["base_"], arrays)
        self.accepted_ = [self._unnest(f"accepted{i}", m, arrays)
                          for i, m in enumerate(meta["accepted_"])]
        self.accepted_keys_ = list(meta.get("accepted_keys_") or [None] * len(self.accepted_))

"""Autoencoder detector: reconstruction error, calibrated once, tested on both tails.

How it decides:

1. ``fit`` holds out ``calibration_fraction`` of the reference, trains the autoencoder on the
   rest (convolutional for images, dense for tables; optionally denoising: noisy input, clean
   target) and computes the per-sample reconstruction error of the held-out part. Those
   errors are the stored reference distribution; nothing is ever re-normalised per batch.
2. ``score`` / ``reconstruction_error`` give one error per sample; ``p_values`` the
   conformal two-sided p-values against the reference errors; ``predict`` flags samples
   outside the two ``fpr`` thresholds and tests the whole batch's errors against the
   reference errors (two-sample KS by default), so clean batches raise alarms at rate
   ``alpha`` and shifts in either direction are caught.
3. On tables, ``predict`` also reports ``metadata["feature_error_ratio"]``: per feature, the
   batch's mean squared reconstruction error divided by the held-out reference's, which
   names the columns the autoencoder no longer reconstructs (``default`` passes it on).

Training reliability: images are trained with binary cross-entropy on [0, 1] pixels
(``loss="auto"``); a small conv AE trained with MSE from default initialisation often
collapses to a blank output whose loss equals the mean squared pixel value. Collapse is
detected after training (loss still >= 90 % of the loss of predicting the mean image) and
the network is re-initialised (``max_restarts``); ``collapsed_`` records the outcome.

Example:
    >>> from scanflow.datasets import load_mnist, corrupt
    >>> X, _ = load_mnist("train", limit=600)
    >>> det = AutoencoderDetector(epochs=3, random_state=0).fit(X)
    >>> det.reconstruction_error(X[:5]).shape, det.latent(X[:5]).shape
    ((5,), (5, 16))
    >>> det.predict(corrupt(X[:100], "fog")).is_drift
    True
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ._calibration import CalibratedScoresMixin, split_calibration, validate_calibration_params
from ._torch_threads import torch_threads
from .base import Detector, DetectorInputError, PreparedData
from .registry import register_detector
from .result import CheckResult

__all__ = ["AutoencoderDetector", "TrainingCollapseWarning"]


class TrainingCollapseWarning(RuntimeWarning):
    """The autoencoder did not learn more than the mean image, even after restarts."""


@register_detector("ae")
class AutoencoderDetector(CalibratedScoresMixin, Detector):
    """Autoencoder reconstruction-error detector (PyTorch).

    Parameters:
        latent_dim: size of the latent code (``latent(X)`` returns it).
        epochs: training epochs (0 gives an untrained network, the common baseline).
        min_steps: train at least this many optimizer steps (more epochs on small
            references, which would otherwise stop while the AE still outputs the mean).
        batch_size, learning_rate: Adam training settings.
        loss: ``"auto"`` (BCE for images, MSE for tables), ``"bce"`` or ``"mse"``.
        error: per-sample score, ``"mse"`` or ``"bce"`` (images only).
        denoising: train as a denoising AE (gaussian noise of std ``noise_std`` on inputs).
        fpr: per-sample false-positive rate of ``is_outlier`` (split over both tails when
            ``tail="two-sided"``).
        alpha: significance level of the batch decision.
        batch_test: ``"ks"``, ``"cvm"``, ``"ranksum"``, ``"fisher"`` or ``"binomial"`` (see
            _calibration).
        calibration_fraction: share of the reference held out to calibrate.
        max_restarts: re-initialisations when training collapses.
        hidden, base_channels: width of the dense / conv networks.
        random_state: seed for the split, the initialisation and the batches.
        n_threads: torch threads while training/scoring (None keeps torch's setting).
    """

    input_kinds = ("image", "table")

    def __init__(
        self,
        *,
        latent_dim: int = 16,
        epochs: int = 12,
        min_steps: int = 300,
        batch_size: int = 64,
        learning_rate: float = 2e-3,
        loss: str = "auto",
        error: str = "mse",
        denoising: bool = False,
        noise_std: float = 0.2,
        fpr: float = 0.05,
        tail: str = "two-sided",
        alpha: float = 0.05,
        batch_test: str = "ks",
        calibration_fraction: float = 0.2,
        max_restarts: int = 2,
        hidden: int = 64,
        base_channels: int = 16,
        random_state: int = 0,
        n_threads: int | None = None,
    ):
        self.latent_dim = latent_dim
        self.epochs = epochs
        self.min_steps = min_steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.loss = loss
        self.error = error
        self.denoising = denoising
        self.noise_std = noise_std
        self.fpr = fpr
        self.tail = tail
        self.alpha = alpha
        self.batch_test = batch_test
        self.calibration_fraction = calibration_fraction
        self.max_restarts = max_restarts
        self.hidden = hidden
        self.base_channels = base_channels
        self.random_state = random_state
        self.n_threads = n_threads

    @classmethod
    def _test_params(cls) -> dict[str, Any]:
        return {"epochs": 2, "min_steps": 150, "batch_size": 32, "latent_dim": 8}

    # ------------------------------------------------------------------ helpers
    def _threads(self):
        return torch_threads(self.n_threads)

    def _loss_name(self, kind: str) -> str:
        if self.loss == "auto":
            return "bce" if kind == "image" else "mse"
        if self.loss not in ("bce", "mse"):
            raise ValueError(f"loss={self.loss!r}; choose 'auto', 'bce' or 'mse'")
        if self.loss == "bce" and kind == "table":
            raise ValueError("loss='bce' needs [0, 1] images; use 'mse' for tables")
        return self.loss

    def _build(self):
        # lazy: ._nets defines torch modules; importing scanflow.check must not load torch
        from ._nets import ConvAutoencoder, DenseAutoencoder

        if self.input_kind_ == "image":
            c, h, w = self.input_shape_
            return ConvAutoencoder(c, h, w, latent_dim=self.latent_dim,
                                   base_channels=self.base_channels)
        return DenseAutoencoder(self.input_shape_[0], latent_dim=self.latent_dim,
                                hidden=self.hidden)

    def _to_model_space(self, data: PreparedData) -> np.ndarray:
        if data.kind == "image":
            return data.values
        return ((data.values - self.mean_) / self.scale_).astype(np.float32)

    def _per_sample_loss(self, out, target, name: str):
        # lazy: torch (importing scanflow.check must not load it)
        import torch.nn.functional as F

        if name == "bce":
            per = F.binary_cross_entropy_with_logits(out, target, reduction="none")
        else:
            per = (self._net.to_output(out) - target) ** 2
        return per.flatten(1).mean(1)

    # ------------------------------------------------------------------ training
    def _fit(self, data: PreparedData) -> None:
        # lazy: torch (importing scanflow.check must not load it)
        import torch

        self._check_fit_params(data)
        loss_name = self._loss_name(data.kind)
        train_idx, cal_idx = split_calibration(len(data), self.calibration_fraction,
                                               self.random_state)
        if data.kind == "table":
            ref = data.values[train_idx]
            self.mean_ = ref.mean(axis=0)
            scale = ref.std(axis=0)
            self.scale_ = np.where(scale > 1e-12, scale, 1.0)
        values = self._to_model_space(data)
        x_train = torch.from_numpy(np.ascontiguousarray(values[train_idx]))
        losses, baseline, restarts, collapsed = self._train_with_restarts(x_train, loss_name)
        self._net.eval()
        self.loss_ = loss_name
        self.training_loss_ = [float(v) for v in losses]
        self.baseline_loss_ = float(baseline)
        self.n_restarts_ = int(restarts)
        self.collapsed_ = bool(collapsed)
        self.calibration_indices_ = cal_idx
        self._calibrate(self._errors(values[cal_idx]))
        if data.kind == "table":
            self.reference_feature_errors_ = self._feature_errors(values[cal_idx]).mean(0)

    def _check_fit_params(self, data: PreparedData) -> None:
        validate_calibration_params(self)
        if self.error not in ("mse", "bce"):
            raise ValueError(f"error={self.error!r}; choose 'mse' or 'bce'")
        if self.error == "bce" and data.kind == "table":
            raise ValueError("error='bce' needs [0, 1] images; use error='mse' for tables")
        if self.epochs < 0:
            raise ValueError(f"epochs={self.epochs} must be >= 0")

    def _train_with_restarts(self, x_train, loss_name: str) -> tuple[list[float], float, int, bool]:
        """Train; restart from a new seed while training collapses to the mean output.

        Returns the losses, the mean-output baseline loss, the restarts and whether it collapsed.
        """
        # lazy: torch (importing scanflow.check must not load it)
        import torch

        with self._threads(), torch.random.fork_rng(devices=[]):
            losses, restarts, collapsed = [], 0, False
            for attempt in range(self.max_restarts + 1):
                torch.manual_seed(self.random_state + 1000 * attempt)
                self._net = self._build()
                losses = self._train(x_train, loss_name)
                baseline = self._baseline_loss(x_train, loss_name)
                floor = self._floor_loss(x_train, loss_name)
                collapsed = (  # learnt less than a tenth of what separates the mean from perfect
                    self.epochs > 0 and bool(losses)
                    and losses[-1] - floor >= 0.9 * (baseline - floor)
                )
                if not collapsed:
                    break
                restarts = attempt + 1
            restarts = min(restarts, self.max_restarts)
        if collapsed:
            hint = " (use loss='bce' for images)" if loss_name == "mse" else ""
            warnings.warn(
                f"autoencoder training collapsed to the mean output (loss {losses[-1]:.4g}"
                f" vs {baseline:.4g} for the mean image) after {restarts} restarts"
                f"{hint}; train longer or on more data",
                TrainingCollapseWarning,
                stacklevel=4,
            )
        return losses, baseline, restarts, collapsed

    def _baseline_loss(self, x, loss_name: str) -> float:
        """Loss of always predicting the mean training sample (what a collapsed AE does)."""
        # lazy: torch (importing scanflow.check must not load it)
        import torch
        import torch.nn.functional as F  # lazy: as above

        mean = x.mean(0, keepdim=True).clamp(1e-4, 1 - 1e-4) if loss_name == "bce" else x.mean(
            0, keepdim=True)
        if loss_name == "bce":
            return float(F.binary_cross_entropy(mean.expand_as(x), x))
        return float(torch.mean((x - mean) ** 2))

    @staticmethod
    def _floor_loss(x, loss_name: str) -> float:
        """The loss of a perfect reconstruction: 0 for MSE; for BCE the entropy of the pixel
        values themselves (grey pixels cannot reach 0), so that smooth images (fog) are not
        taken for a collapse."""
        # lazy: torch (importing scanflow.check must not load it)
        import torch.nn.functional as F

        if loss_name != "bce":
            return 0.0
        target = x.clamp(1e-4, 1 - 1e-4)
        return float(F.binary_cross_entropy(target, x))

    def _train(self, x, loss_name: str) -> list[float]:
        # lazy: torch (importing scanflow.check must not load it)
        import torch

        net = self._net
        if self.epochs == 0:
            return []
        opt = torch.optim.Adam(net.parameters(), lr=self.learning_rate)
        gen = torch.Generator().manual_seed(self.random_state)
        n = len(x)
        bs = max(1, min(self.batch_size, n))
        steps_per_epoch = -(-n // bs)
        epochs = max(self.epochs, -(-self.min_steps // steps_per_epoch))
        is_image = self.input_kind_ == "image"
        losses = []
        net.train()
        for _ in range(epochs):
            perm = torch.randperm(n, generator=gen)
            total = 0.0
            for start in range(0, n, bs):
                target = x[perm[start : start + bs]]
                inp = target
                if self.denoising:
                    noise = torch.randn(target.shape, generator=gen) * self.noise_std
                    inp = target + noise
                    if is_image:
                        inp = inp.clamp(0.0, 1.0)
                out = net(inp)
                loss = self._per_sample_loss(out, target, loss_name).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(target)
            losses.append(total / n)
        net.eval()
        return losses

    # ------------------------------------------------------------------ inference
    def _forward_chunks(self, values: np.ndarray, fn, chunk: int = 1024) -> np.ndarray:
        # lazy: torch (importing scanflow.check must not load it)
        import torch

        with self._threads(), torch.inference_mode():
            if len(values) <= chunk:  # one pass (a served request): no list, no concatenation
                return fn(torch.from_numpy(np.ascontiguousarray(values))).numpy()
            outs = [fn(torch.from_numpy(np.ascontiguousarray(values[start : start + chunk]))).numpy()
                    for start in range(0, len(values), chunk)]
        return np.concatenate(outs)

    def _errors(self, values: np.ndarray) -> np.ndarray:
        if len(values) == 0:
            return np.empty((0,))
        net, name = self._net, self.error

        def err(xb):
            out = net(xb)
            if name == "bce":
                return self._per_sample_loss(out, xb, name)
            # the per-sample MSE of _per_sample_loss, in place (no autograd under inference_mode)
            return net.to_output(out).sub_(xb).square_().flatten(1).mean(1)

        return self._forward_chunks(values, err).astype(np.float64)

    def _feature_errors(self, values: np.ndarray) -> np.ndarray:
        """Squared reconstruction error per sample and feature (tables, standardised units)."""
        net = self._net
        return self._forward_chunks(
            values, lambda xb: (net.to_output(net(xb)) - xb) ** 2).astype(np.float64)

    def _feature_report(self, data: PreparedData) -> dict[str, Any]:
        """Per-feature results for tables: mean squared error of the batch / of the reference.

        A ratio well above 1 names the feature(s) the autoencoder no longer reconstructs.
        """
        reference = getattr(self, "reference_feature_errors_", None)
        if data.kind != "table" or reference is None:
            return {}
        batch = self._feature_errors(self._to_model_space(data)).mean(0)
        return {"feature_error_ratio": batch / np.maximum(reference, 1e-12),
                "feature_names": self.feature_names_in_}

    def _score(self, data: PreparedData) -> np.ndarray:
        return self._errors(self._to_model_space(data))

    def reconstruction_error(self, X) -> np.ndarray:
        """Per-sample reconstruction error (mean over pixels/features), shape (n,)."""
        return self.score(X)

    def p_values(self, X) -> np.ndarray:
        """Per-sample p-values of the errors against the stored reference errors."""
        return self._p_values_from_scores(self.score(X))

    def latent(self, X) -> np.ndarray:
        """Per-sample latent features, float32 of shape (n, latent_dim)."""
        self._check_fitted()
        data = self._prepare(X, fitting=False)
        return self._forward_chunks(self._to_model_space(data), self._net.encode)

    def reconstruct(self, X) -> np.ndarray:
        """Reconstructions in the input's layout.

        Images come back as float32 in [0, 1] with the input's shape (``(n, 28, 28)`` in,
        ``(n, 28, 28)`` out); tables as float64 in the original units.
        """
        self._check_fitted()
        in_shape = np.shape(X) if not hasattr(X, "columns") else None
        data = self._prepare(X, fitting=False)
        net = self._net
        out = self._forward_chunks(self._to_model_space(data),
                                   lambda xb: net.to_output(net(xb)))
        if data.kind == "table":
            return out.astype(np.float64) * self.scale_ + self.mean_
        if len(in_shape) == 3:
            return out[:, 0]
        if in_shape[1] != out.shape[1]:  # channels-last input
            return np.moveaxis(out, 1, -1)
        return out

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
            is_outlier=flags.tolist(),
            instance_scores=errors.tolist(),
            instance_threshold=self.threshold_,
            metadata={
                "decision_rule": "p_value < threshold",
                "score_name": f"{details['batch_test']} statistic on reconstruction error",
                "lower_instance_threshold": self.lower_threshold_,
                "fpr": self.fpr,
                "tail": self.tail,
                "share_flagged": float(flags.mean()),
                "mean_error": float(errors.mean()),
                "reference_mean_error": float(self.reference_scores_.mean()),
                **details,
                **self._feature_report(data),
            },
        )

    # ------------------------------------------------------------------ persistence
    def _get_state(self):
        meta, arrays = super()._get_state()
        meta.update(
            loss_=self.loss_,
            training_loss_=self.training_loss_,
            baseline_loss_=self.baseline_loss_,
            n_restarts_=self.n_restarts_,
            collapsed_=self.collapsed_,
            threshold_=self.threshold_,
            lower_threshold_=self.lower_threshold_,
        )
        arrays["reference_scores_"] = self.reference_scores_
        arrays["calibration_indices_"] = self.calibration_indices_
        if self.input_kind_ == "table":
            arrays["mean_"] = self.mean_
            arrays["scale_"] = self.scale_
            if self.reference_feature_errors_ is not None:  # None in files saved before it
                arrays["reference_feature_errors_"] = self.reference_feature_errors_
        for key, tensor in self._net.state_dict().items():
            arrays[f"net/{key}"] = tensor.detach().cpu().numpy()
        return meta, arrays

    def _set_state(self, meta, arrays):
        # lazy: torch (importing scanflow.check must not load it)
        import torch

        super()._set_state(meta, arrays)
        for key in ("loss_", "training_loss_", "baseline_loss_", "n_restarts_", "collapsed_",
                    "threshold_", "lower_threshold_"):
            setattr(self, key, meta[key])
        self.reference_scores_ = arrays["reference_scores_"]
        self.calibration_indices_ = arrays["calibration_indices_"]
        if self.input_kind_ == "table":
            self.mean_, self.scale_ = arrays["mean_"], arrays["scale_"]
            self.reference_feature_errors_ = arrays.get("reference_feature_errors_")
        self._net = self._build()
        state = {k[4:]: torch.from_numpy(np.array(v)) for k, v in arrays.items()
                 if k.startswith("net/")}
        try:
            self._net.load_state_dict(state)
        except RuntimeError as exc:
            raise DetectorInputError(f"saved network does not match its settings: {exc}") from exc
        self._net.eval()

    @property
    def network(self):
        """The underlying ``torch.nn.Module`` (``encode``, ``decode_logits``, ``forward``)."""
        self._check_fitted()
        return self._net

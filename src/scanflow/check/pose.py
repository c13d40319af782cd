"""Pose detector: how far images are turned, sheared or zoomed from the reference's pose.

An autoencoder reconstructs a rotated digit about as well as an upright one, so geometric
shifts (rotation, shear, zoom) hardly move its error. This detector learns what the
reference's own pose looks like, without any label:

1. ``fit`` holds out ``calibration_fraction`` of the reference and trains a small CNN on the
   rest to predict the random rotation, shear and zoom applied to each image (self-supervised
   pose regression, as in rotation-prediction out-of-distribution detection; each parameter
   is left at 0 for a share ``keep_share`` of the images, so the reference's own pose is what
   "0" means).
2. A sample's score is the Mahalanobis distance of its predicted pose from the centre of
   the predicted poses of the training part; the scores of the held-out part (which the
   network never trained on) are the stored reference distribution (see ``_calibration``).
3. ``predict`` compares the batch's scores with the reference scores with a one-sided
   Mann-Whitney test (``batch_test="ranksum"``): exact for clean data at any batch size,
   and powerful on batches of ten.

It works on images of any size and channel count (not on tables: a table has no pose). It is
one of the components of the default detector (:class:`~scanflow.check.latent.DefaultDetector`).

Example:
    >>> from scanflow.datasets import load_mnist, corrupt
    >>> X, _ = load_mnist("train", limit=1000)
    >>> det = PoseDetector(epochs=4, min_steps=200, random_state=0).fit(X)
    >>> det.predict(corrupt(X[:100], "rotate")).is_drift
    True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._calibration import CalibratedScoresMixin, split_calibration, validate_calibration_params
from ._torch_threads import torch_threads
from .base import Detector, DetectorInputError, PreparedData
from .registry import register_detector
from .result import CheckResult

__all__ = ["PoseDetector"]


@register_detector("pose")
class PoseDetector(CalibratedScoresMixin, Detector):
    """Self-supervised pose regression on images (PyTorch); see the module docstring.

    Parameters:
        max_rotation, max_shear: largest rotation and shear trained on, in degrees.
        max_zoom: largest zoom factor trained on (in and out).
        keep_share: probability that a pose parameter is left at 0 in training.
        epochs, min_steps, batch_size, learning_rate: Adam training settings.
        base_channels, hidden: width of the network.
        fpr: per-sample false-positive rate of ``is_outlier``.
        alpha: significance level of the batch decision.
        batch_test, tail: the batch test on the scores (see ``_calibration``).
        calibration_fraction: share of the reference held out to calibrate.
        random_state: seed for the split, the initialisation and the poses.
        n_threads: torch threads while training/scoring (None keeps torch's setting).
    """

    input_kinds = ("image",)

    def __init__(self, *, max_rotation: float = 45.0, max_shear: float = 35.0,
                 max_zoom: float = 1.5, keep_share: float = 0.5, epochs: int = 10,
                 min_steps: int = 400, batch_size: int = 64, learning_rate: float = 2e-3,
                 base_channels: int = 16, hidden: int = 64, fpr: float = 0.05,
                 alpha: float = 0.05, batch_test: str = "ranksum", tail: str = "upper",
                 calibration_fraction: float = 0.2, random_state: int = 0,
                 n_threads: int | None = None):
        self.max_rotation = max_rotation
        self.max_shear = max_shear
        self.max_zoom = max_zoom
        self.keep_share = keep_share
        self.epochs = epochs
        self.min_steps = min_steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.base_channels = base_channels
        self.hidden = hidden
        self.fpr = fpr
        self.alpha = alpha
        self.batch_test = batch_test
        self.tail = tail
        self.calibration_fraction = calibration_fraction
        self.random_state = random_state
        self.n_threads = n_threads

    @classmethod
    def _test_params(cls) -> dict[str, Any]:
        return {"epochs": 2, "min_steps": 100, "batch_size": 32}

    # ------------------------------------------------------------------ helpers
    def _threads(self):
        return torch_threads(self.n_threads)

    def _build(self):
        from ._pose_net import PoseRegressor  # lazy: defines torch modules

        c, h, w = self.input_shape_
        return PoseRegressor(c, h, w, base_channels=self.base_channels, hidden=self.hidden)

    def _check_params(self) -> None:
        validate_calibration_params(self)
        if self.epochs < 1:
            raise ValueError(f"epochs={self.epochs} must be >= 1")
        if not 0 <= self.keep_share < 1:
            raise ValueError(f"keep_share={self.keep_share} must be in [0, 1)")
        if not (0 < self.max_rotation <= 180 and 0 < self.max_shear < 90 and self.max_zoom > 1):
            raise ValueError("need 0 < max_rotation <= 180, 0 < max_shear < 90 and max_zoom > 1")

    # ------------------------------------------------------------------ training
    def _fit(self, data: PreparedData) -> None:
        # lazy: torch (importing scanflow.check must not load it)
        import torch

        self._check_params()
        train_idx, cal_idx = split_calibration(len(data), self.calibration_fraction,
                                               self.random_state)
        with self._threads(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            self._net = self._build()
            self.training_loss_ = self._train(torch.from_numpy(data.values[train_idx]))
        self._net.eval()
        # centre and spread from the training part, distances of the held-out part: the
        # held-out distances and those of new clean images are then exchangeable (a centre
        # fitted on the held-out part itself would make its distances slightly too small)
        trained = self.predict_pose(data.values[train_idx], prepared=True)
        self.pose_mean_ = trained.mean(0)
        self.pose_precision_ = np.linalg.pinv(np.atleast_2d(np.cov(trained, rowvar=False)))
        self.calibration_indices_ = cal_idx
        self._calibrate(self._distances(self.predict_pose(data.values[cal_idx], prepared=True)))

    def _train(self, x) -> list[float]:
        # lazy: torch (importing scanflow.check must not load it)
        import torch

        from ._pose_net import apply_poses, random_poses  # lazy: torch

        net, n = self._net, len(x)
        opt = torch.optim.Adam(net.parameters(), lr=self.learning_rate)
        gen = torch.Generator().manual_seed(self.random_state)
        bs = max(1, min(self.batch_size, n))
        epochs = max(self.epochs, -(-self.min_steps // -(-n // bs)))
        limits = (math.radians(self.max_rotation), math.radians(self.max_shear), self.max_zoom)
        losses = []
        net.train()
        for _ in range(epochs):
            perm, total = torch.randperm(n, generator=gen), 0.0
            for start in range(0, n, bs):
                batch = x[perm[start : start + bs]]
                target = random_poses(len(batch), gen, self.keep_share)
                loss = torch.mean((net(apply_poses(batch, target, *limits)) - target) ** 2)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(batch)
            losses.append(total / n)
        return losses

    # ------------------------------------------------------------------ inference
    def predict_pose(self, X, *, prepared: bool = False) -> np.ndarray:
        """Predicted (rotation, shear, zoom) of each image, scaled to [-1, 1]: shape (n, 3).

        ``prepared=True`` takes float ``(n, C, H, W)`` values in [0, 1] as they are.
        """
        # lazy: torch (importing scanflow.check must not load it)
        import torch

        values = X if prepared else self._prepare(X, fitting=False).values
        outs = []
        with self._threads(), torch.inference_mode():
            for start in range(0, len(values), 1024):
                chunk = np.ascontiguousarray(values[start : start + 1024])
                outs.append(self._net(torch.from_numpy(chunk)).numpy())
        return np.concatenate(outs).astype(np.float64)

    def _distances(self, poses: np.ndarray) -> np.ndarray:
        d = poses - self.pose_mean_
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", d, self.pose_precision_, d), 0.0))

    def _score(self, data: PreparedData) -> np.ndarray:
        return self._distances(self.predict_pose(data.values, prepared=True))

    def _predict(self, data: PreparedData) -> CheckResult:
        poses = self.predict_pose(data.values, prepared=True)
        scores = self._distances(poses)
        flags = self._flags(scores)
        stat, p, details = self._batch_decision(scores)
        from ._pose_net import POSE_PARAMS  # lazy: torch

        shift = dict(zip(POSE_PARAMS, np.abs(poses - self.pose_mean_).mean(0).tolist(),
                         strict=True))
        return CheckResult(
            detector=self.name, is_drift=p < self.alpha, score=stat, threshold=self.alpha,
            p_value=p, n_samples=len(scores), is_outlier=flags.tolist(),
            instance_scores=scores.tolist(), instance_threshold=self.threshold_,
            metadata={
                "decision_rule": "p_value < threshold",
                "score_name": f"{details['batch_test']} statistic on the pose distance",
                "share_flagged": float(flags.mean()),
                "mean_pose_shift": shift,
                **details,
            },
        )

    # ------------------------------------------------------------------ persistence
    def _get_state(self):
        meta, arrays = super()._get_state()
        meta.update(training_loss_=self.training_loss_, threshold_=self.threshold_,
                    lower_threshold_=self.lower_threshold_)
        arrays.update(reference_scores_=self.reference_scores_, pose_mean_=self.pose_mean_,
                      pose_precision_=self.pose_precision_,
                      calibration_indices_=self.calibration_indices_)
        for key, tensor in self._net.state_dict().items():
            arrays[f"net/{key}"] = tensor.detach().cpu().numpy()
        return meta, arrays

    def _set_state(self, meta, arrays):
        # lazy: torch (importing scanflow.check must not load it)
        import torch

        super()._set_state(meta, arrays)
        for key in ("training_loss_", "threshold_", "lower_threshold_"):
            setattr(self, key, meta[key])
        for key in ("reference_scores_", "pose_mean_", "pose_precision_",
                    "calibration_indices_"):
            setattr(self, key, arrays[key])
        self._net = self._build()
        state = {k[4:]: torch.from_numpy(np.array(v)) for k, v in arrays.items()
                 if k.startswith("net/")}
        try:
            self._net.load_state_dict(state)
        except RuntimeError as exc:
            raise DetectorInputError(f"saved network does not match its settings: {exc}") from exc
        self._net.eval()

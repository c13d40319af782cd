"""Improvement strategies: turn a champion and a few labeled drifted samples into a candidate.

Each strategy is configured by keyword arguments and has one method::

    improve(model, X_train, y_train, X_labeled, y_labeled, seed=0) -> candidate model

It never modifies ``model`` (the champion); the candidate is a new module.

``RetrainStrategy``
    fine-tunes the classifier on a replay of its training data plus the labeled samples,
    repeated ``repeat`` times and (``augment=True``) jittered by small random affine moves.
``DenoiserStrategy``
    puts a :class:`~scanflow.improve.denoiser.DenoisingAutoencoder` in front of the
    classifier and returns both as one :class:`~scanflow.improve.denoiser.DenoisedClassifier`.
    The denoiser is first *pretrained* without any label to map synthetic corruptions of the
    clean training images back to the clean images (generic Gaussian noise, blur and erased
    rectangles, none of them an MNIST-C corruption; cached per seed in ``cache_dir``), then *fine-tuned* for the drift at
    hand: its output, fed to the frozen classifier, must give the right class for the labeled
    drifted samples, while clean and synthetic pairs keep their reconstruction loss (so clean
    inputs pass through unharmed). No clean version of a drifted sample is needed, and none is
    used: a deployment never has one.
``CombinedStrategy``
    both: the denoiser as above, then the classifier fine-tuned behind it.

When the champion already is a ``DenoisedClassifier`` (an earlier round wrapped it), the
retrain strategy fine-tunes the classifier behind the existing denoiser and the denoiser
strategy fine-tunes the existing denoiser.

Example:
    >>> import numpy as np
    >>> from scanflow.improve.classifier import train_classifier
    >>> X = np.random.default_rng(0).integers(0, 255, (40, 28, 28), dtype=np.uint8)
    >>> y = np.arange(40) % 10
    >>> champion = train_classifier(X, y, epochs=1)
    >>> cand = RetrainStrategy(epochs=1).improve(champion, X, y, X[:5], y[:5], seed=0)
    >>> cand is champion
    False
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ._params import ParamsMixin
from .augment import GENERIC_KINDS, generic_corruption, random_affine
from .cache import cache_key, data_fingerprint, load_cached, save_cached
from .classifier import MnistCNN, as_images, train_classifier
from .denoiser import DenoisedClassifier, DenoisingAutoencoder

__all__ = [
    "STRATEGIES",
    "CombinedStrategy",
    "DenoiserStrategy",
    "RetrainStrategy",
    "Strategy",
    "StrategyError",
    "get_strategy",
]


class StrategyError(ValueError):
    """Bad settings or inputs for an improvement strategy."""


def _check_inputs(X_train, y_train, X_labeled, y_labeled):
    if len(X_train) != len(y_train):
        raise StrategyError(f"X_train has {len(X_train)} images but y_train {len(y_train)} labels")
    if len(X_labeled) != len(y_labeled):
        raise StrategyError(
            f"X_labeled has {len(X_labeled)} images but y_labeled {len(y_labeled)} labels"
        )
    if len(X_train) == 0:
        raise StrategyError("X_train is empty: the strategies replay the training data")


def _split(model) -> tuple[DenoisingAutoencoder | None, MnistCNN]:
    if isinstance(model, DenoisedClassifier):
        return model.denoiser, model.classifier
    return None, model


class Strategy(ParamsMixin, ABC):
    """Base class: settings in ``__init__`` (``get_params``), work in ``improve``."""

    name: ClassVar[str] = ""

    @abstractmethod
    def improve(self, model, X_train, y_train, X_labeled, y_labeled, seed: int = 0):
        """A candidate model trained from ``model`` and the labeled samples (every subclass)."""


class RetrainStrategy(Strategy):
    """Fine-tune on ``replay`` training images plus the labeled samples ``repeat`` times.

    Args:
        epochs: passes over the mixed set.
        lr: peak learning rate (one-cycle schedule).
        replay: how many training images to mix in (None: all); they keep clean accuracy.
        repeat: copies of each labeled sample per epoch (their weight against the replay).
        augment: jitter the labeled copies with small random rotations/shifts/scalings.
        from_scratch: train a new network instead of fine-tuning the champion.
    """

    name = "retrain"

    def __init__(
        self,
        *,
        epochs: int = 2,
        lr: float = 1e-3,
        replay: int | None = 2000,
        repeat: int = 10,
        augment: bool = True,
        from_scratch: bool = False,
    ):
        self.epochs = epochs
        self.lr = lr
        self.replay = replay
        self.repeat = repeat
        self.augment = augment
        self.from_scratch = from_scratch

    def _mix(self, X_train, y_train, X_labeled, y_labeled, seed):
        rng = np.random.default_rng(seed)
        n = len(X_train) if self.replay is None else min(self.replay, len(X_train))
        keep = rng.permutation(len(X_train))[:n]
        xt = as_images(np.asarray(X_train)[keep])
        yt = np.asarray(y_train)[keep]
        k = len(X_labeled) * max(int(self.repeat), 1)
        if len(X_labeled):
            xl = as_images(X_labeled).repeat(max(int(self.repeat), 1), 1, 1, 1)
            yl = np.tile(np.asarray(y_labeled), max(int(self.repeat), 1))
            X = torch.cat([xt, xl])
            y = np.concatenate([yt, yl])
        else:
            X, y = xt, yt
        augment = np.concatenate([np.zeros(len(xt), bool), np.full(k, bool(self.augment))])
        return X, y, augment

    def improve(self, model, X_train, y_train, X_labeled, y_labeled, seed: int = 0):
        _check_inputs(X_train, y_train, X_labeled, y_labeled)
        denoiser, clf = _split(model)
        X, y, augment = self._mix(X_train, y_train, X_labeled, y_labeled, seed)
        new_clf = train_classifier(
            X,
            y,
            epochs=self.epochs,
            seed=seed,
            model=None if self.from_scratch else clf,
            lr=self.lr,
            augment=augment,
            transform=denoiser,
        )
        if denoiser is None:
            return new_clf
        return DenoisedClassifier.from_modules(denoiser, new_clf)


class DenoiserStrategy(Strategy):
    """Wrap the classifier with a denoising autoencoder (see the module docstring).

    Args:
        synthetic: generic corruptions (:data:`~scanflow.improve.augment.GENERIC_KINDS`)
            applied on the fly to clean training images to pretrain the denoiser; ``()``
            pretrains on the identity only.
        pretrain_steps: steps of label-free pretraining (cached per seed in ``cache_dir``).
        steps: fine-tuning steps per round.
        batch_size: training pairs per step (half clean, half synthetically corrupted).
        labeled_batch: labeled drifted samples per step (drawn with replacement, jittered when
            ``augment``).
        task_weight: weight of the classification losses through the frozen classifier.
        lr: Adam learning rate of the fine-tuning (pretraining uses 2e-3).
        channels: widths of the denoiser.
        cache_dir: folder for pretrained denoisers (None: no cache).
    """

    name = "denoiser"

    def __init__(
        self,
        *,
        synthetic: tuple[str, ...] | list[str] = GENERIC_KINDS,
        pretrain_steps: int = 600,
        steps: int = 100,
        batch_size: int = 32,
        labeled_batch: int = 32,
        task_weight: float = 1.0,
        lr: float = 1e-3,
        augment: bool = True,
        channels: tuple[int, int] | list[int] = (16, 32),
        cache_dir: str | None = None,
    ):
        self.synthetic = synthetic
        self.pretrain_steps = pretrain_steps
        self.steps = steps
        self.batch_size = batch_size
        self.labeled_batch = labeled_batch
        self.task_weight = task_weight
        self.lr = lr
        self.augment = augment
        self.channels = channels
        self.cache_dir = cache_dir

    def _pair_batch(self, x_clean: torch.Tensor, n: int, g: torch.Generator):
        """``n`` random training images: (input, clean target, index); half corrupted."""
        idx = torch.randint(len(x_clean), (n,), generator=g)
        target = x_clean[idx]
        if not self.synthetic:
            return target, target, idx
        noisy = generic_corruption(target, g, tuple(self.synthetic))
        keep = torch.rand(n, generator=g) < 0.5
        inp = torch.where(keep[:, None, None, None], target, noisy)
        return inp, target, idx

    # ------------------------------------------------------------------ label-free pretraining
    def pretrain(self, X_train, seed: int = 0) -> DenoisingAutoencoder:
        """The label-free denoiser for this training set and seed (from the cache if there)."""
        settings = {
            "synthetic": list(self.synthetic),
            "steps": self.pretrain_steps,
            "channels": list(self.channels),
            "seed": seed,
            "data": data_fingerprint(np.asarray(X_train)),
        }
        key = cache_key("denoiser", settings)
        cached = load_cached(self.cache_dir, key, DenoisingAutoencoder)
        if cached is not None:
            return cached
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        dae = DenoisingAutoencoder(channels=self.channels)
        x = as_images(X_train)
        steps = max(1, int(self.pretrain_steps))
        opt = torch.optim.Adam(dae.parameters(), lr=2e-3)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
        dae.train()
        for _ in range(steps):
            inp, target, _ = self._pair_batch(x, 64, g)
            loss = F.mse_loss(dae(inp), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        dae.eval()
        if self.cache_dir is not None:
            save_cached(self.cache_dir, key, dae, settings)
        return dae

    # ------------------------------------------------------------------ task fine-tuning
    def fine_tune(
        self, dae, classifier, X_train, y_train, X_labeled, y_labeled, seed: int = 0
    ) -> DenoisingAutoencoder:
        """A copy of ``dae`` tuned so ``classifier(dae(x))`` classifies the labeled samples."""
        dae = copy.deepcopy(dae)
        clf = copy.deepcopy(classifier).eval()
        for p in clf.parameters():
            p.requires_grad_(False)
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed + 1)
        x = as_images(X_train)
        yt = torch.as_tensor(np.asarray(y_train), dtype=torch.long)
        xl = as_images(X_labeled)
        yl = torch.as_tensor(np.asarray(y_labeled), dtype=torch.long)
        opt = torch.optim.Adam(dae.parameters(), lr=self.lr)
        dae.train()
        for _ in range(int(self.steps)):
            inp, target, idx = self._pair_batch(x, self.batch_size, g)
            out = dae(inp)
            # reconstruction keeps clean inputs intact; the task term keeps them classifiable
            loss = 10.0 * F.mse_loss(out, target)
            loss = loss + self.task_weight * F.cross_entropy(clf(out), yt[idx])
            if len(xl):
                j = torch.randint(len(xl), (self.labeled_batch,), generator=g)
                xb = random_affine(xl[j], g) if self.augment else xl[j]
                loss = loss + self.task_weight * F.cross_entropy(clf(dae(xb)), yl[j])
            opt.zero_grad()
            loss.backward()
            opt.step()
        dae.eval()
        return dae

    def improve(self, model, X_train, y_train, X_labeled, y_labeled, seed: int = 0):
        _check_inputs(X_train, y_train, X_labeled, y_labeled)
        denoiser, clf = _split(model)
        if denoiser is None:
            denoiser = self.pretrain(X_train, seed)
        dae = self.fine_tune(denoiser, clf, X_train, y_train, X_labeled, y_labeled, seed)
        return DenoisedClassifier.from_modules(dae, clf)


class CombinedStrategy(Strategy):
    """Denoiser first, then the classifier fine-tuned behind it (both settings objects)."""

    name = "combined"

    def __init__(
        self,
        *,
        denoiser: DenoiserStrategy | None = None,
        retrain: RetrainStrategy | None = None,
    ):
        self.denoiser = denoiser
        self.retrain = retrain

    def improve(self, model, X_train, y_train, X_labeled, y_labeled, seed: int = 0):
        den = self.denoiser or DenoiserStrategy()
        ret = self.retrain or RetrainStrategy()
        wrapped = den.improve(model, X_train, y_train, X_labeled, y_labeled, seed)
        return ret.improve(wrapped, X_train, y_train, X_labeled, y_labeled, seed)


STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (RetrainStrategy, DenoiserStrategy, CombinedStrategy)
}


def get_strategy(name: str, *, cache_dir: str | None = None, **kwargs) -> Strategy:
    """Build a strategy by name (``retrain``, ``denoiser``, ``combined``).

    ``cache_dir`` goes to the denoiser (also the one inside ``combined``).
    """
    if name not in STRATEGIES:
        raise StrategyError(
            f"unknown improvement strategy {name!r}; choose one of {', '.join(STRATEGIES)}"
        )
    try:
        if name == "retrain":
            return RetrainStrategy(**kwargs)
        if name == "denoiser":
            return DenoiserStrategy(cache_dir=cache_dir, **kwargs)
        return CombinedStrategy(
            denoiser=DenoiserStrategy(cache_dir=cache_dir), retrain=RetrainStrategy(**kwargs)
        )
    except TypeError as exc:
        raise StrategyError(f"bad settings for strategy {name!r}: {exc}") from None

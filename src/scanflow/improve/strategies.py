"""Improvement strategies: turn a champion and a few labeled drifted samples into a candidate.

Each strategy is configured by keyword arguments and has one method::

    improve(model, X_train, y_train, X_labeled, y_labeled, seed=0) -> candidate model

``model`` is any model :func:`scanflow.models.as_model` accepts (a scikit-learn pipeline, a
torch module, an adapter); the candidate comes back in the same form (an adapter for an
adapter, a native model for a native model). The champion is never modified.

``RetrainStrategy`` (``retrain``, every model that can be trained)
    a replay of the training data plus the labeled samples, repeated ``repeat`` times: a
    scikit-learn model is *refit* on them (or updated with ``partial_fit``), a torch module is
    *fine-tuned* (images jittered by small random affine moves when ``augment``).
``DenoiserStrategy`` (``denoiser``, torch image classifiers of any size and channel count)
    puts a :class:`~scanflow.improve.denoiser.DenoisingAutoencoder` in front of the classifier
    and returns both as one :class:`~scanflow.improve.denoiser.DenoisedClassifier`.
    The denoiser is first *pretrained* without any label to map generic corruptions of the
    clean training images back to the clean images (Gaussian noise, blur, erased rectangles;
    cached per seed in ``cache_dir``), then *fine-tuned* for the drift at hand: its output, fed
    to the frozen classifier, must give the right class for the labeled drifted samples, while
    clean and synthetic pairs keep their reconstruction loss (so clean inputs pass through
    unharmed). No clean version of a drifted sample is needed, and none is used.
``CombinedStrategy`` (``combined``)
    both: the denoiser as above, then the classifier fine-tuned behind it.

When the champion already is a ``DenoisedClassifier`` (an earlier round wrapped it), the
retrain strategy fine-tunes the classifier behind the existing denoiser and the denoiser
strategy fine-tunes the existing denoiser.

Example:
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(60, 3)), np.arange(60) % 2
    >>> champion = LogisticRegression().fit(X, y)
    >>> cand = RetrainStrategy().improve(champion, X, y, X[:5] + 3, y[:5], seed=0)
    >>> type(cand).__name__, cand is champion
    ('LogisticRegression', False)
"""

from __future__ import annotations

import copy
import inspect
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from scanflow.errors import ScanflowError
from scanflow.models import InputSchema, ModelAdapter, as_model, concat, take
from scanflow.models.augment import GENERIC_KINDS, generic_corruption, random_affine
from scanflow.models.torch_model import TorchModel
from scanflow.params import ParamsMixin

from .cache import cache_key, data_fingerprint, load_cached, save_cached
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


class StrategyError(ScanflowError, ValueError):
    """Bad settings or inputs for an improvement strategy."""


def _check_inputs(X_train, y_train, X_labeled, y_labeled):
    if len(X_train) != len(y_train):
        raise StrategyError(f"X_train has {len(X_train)} samples but y_train {len(y_train)} labels")
    if len(X_labeled) != len(y_labeled):
        raise StrategyError(
            f"X_labeled has {len(X_labeled)} samples but y_labeled {len(y_labeled)} labels"
        )
    if len(X_train) == 0:
        raise StrategyError("X_train is empty: the strategies replay the training data")


def _like(given: Any, adapter: ModelAdapter) -> Any:
    """The candidate in the form the champion was given: an adapter or the native model."""
    return adapter if isinstance(given, ModelAdapter) else adapter.native


def _split(model: ModelAdapter) -> tuple[DenoisingAutoencoder | None, Any]:
    if isinstance(model.native, DenoisedClassifier):
        return model.native.denoiser, model.native.classifier
    return None, model.native


def _classifier_init(model: TorchModel) -> dict | None:
    """The constructor arguments of the classifier (behind the denoiser, if there is one)."""
    if isinstance(model.native, DenoisedClassifier):
        return model.native.classifier_config["init_kwargs"]
    return model.init_kwargs


def _image_model(model: ModelAdapter, X: Any, strategy: str) -> TorchModel:
    model.ensure_schema(X)
    if not isinstance(model, TorchModel) or model.kind != "image":
        raise StrategyError(
            f"the {strategy!r} strategy wraps torch image classifiers; this is a {model.flavor} "
            f"model of {model.schema.describe()}: use the 'retrain' strategy")
    return model


class Strategy(ParamsMixin, ABC):
    """Base class: settings in ``__init__`` (``get_params``), work in ``improve``."""

    name: ClassVar[str] = ""

    @abstractmethod
    def improve(self, model, X_train, y_train, X_labeled, y_labeled, seed: int = 0):
        """A candidate model trained from ``model`` and the labeled samples (every subclass)."""


class RetrainStrategy(Strategy):
    """Refit or fine-tune on ``replay`` training samples plus the labeled ones ``repeat`` times.

    Args:
        epochs: passes over the mixed set (torch).
        lr: peak learning rate, one-cycle schedule (torch).
        replay: how many training samples to mix in (None: all); they keep clean accuracy.
        repeat: copies of each labeled sample (their weight against the replay).
        augment: jitter the labeled image copies with small random affine moves (torch images).
        from_scratch: train a new network instead of fine-tuning the champion (torch).
        mode: ``"refit"`` or ``"partial_fit"`` (scikit-learn; ``partial_fit`` sees only the
            labeled samples).
    """

    name = "retrain"

    def __init__(self, *, epochs: int = 2, lr: float = 1e-3, replay: int | None = 2000,
                 repeat: int = 10, augment: bool = True, from_scratch: bool = False,
                 mode: str = "refit"):
        self.epochs = epochs
        self.lr = lr
        self.replay = replay
        self.repeat = repeat
        self.augment = augment
        self.from_scratch = from_scratch
        self.mode = mode

    def _mix(self, X_train, y_train, X_labeled, y_labeled, seed):
        rng = np.random.default_rng(seed)
        n = len(X_train) if self.replay is None else min(self.replay, len(X_train))
        keep = rng.permutation(len(X_train))[:n]
        reps = max(int(self.repeat), 1)
        lab = np.tile(np.arange(len(X_labeled)), reps)
        X = concat([take(X_train, keep), take(X_labeled, lab)])
        y = np.concatenate([np.asarray(y_train)[keep], np.asarray(y_labeled)[lab]])
        augment = np.concatenate([np.zeros(n, bool), np.full(len(lab), bool(self.augment))])
        return X, y, augment

    def improve(self, model, X_train, y_train, X_labeled, y_labeled, seed: int = 0):
        _check_inputs(X_train, y_train, X_labeled, y_labeled)
        adapter = as_model(model)
        adapter.ensure_schema(X_train)
        if self.mode == "partial_fit":
            return _like(model, adapter.fit_more(X_labeled, y_labeled, seed=seed, mode="partial_fit"))
        X, y, augment = self._mix(X_train, y_train, X_labeled, y_labeled, seed)
        if not isinstance(adapter, TorchModel):
            return _like(model, adapter.fit_more(X, y, seed=seed, mode=self.mode))
        return _like(model, self._fine_tune(adapter, X, y, augment, seed))

    def _fine_tune(self, adapter: TorchModel, X, y, augment, seed) -> TorchModel:
        denoiser, clf = _split(adapter)
        inner = adapter if denoiser is None else adapter.with_native(clf, _classifier_init(adapter))
        tuned = inner.fit_more(X, y, seed=seed, epochs=self.epochs, lr=self.lr, augment=augment,
                               transform=denoiser, from_scratch=self.from_scratch)
        if denoiser is None:
            return tuned
        wrapped = DenoisedClassifier.from_modules(denoiser, tuned.native, _classifier_init(adapter))
        return adapter.with_native(wrapped)


class DenoiserStrategy(Strategy):
    """Wrap a torch image classifier with a denoising autoencoder (see the module docstring).

    Args:
        synthetic: generic corruptions (:data:`~scanflow.models.augment.GENERIC_KINDS`)
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

    def __init__(self, *, synthetic: tuple[str, ...] | list[str] = GENERIC_KINDS,
                 pretrain_steps: int = 600, steps: int = 100, batch_size: int = 32,
                 labeled_batch: int = 32, task_weight: float = 1.0, lr: float = 1e-3,
                 augment: bool = True, channels: tuple[int, int] | list[int] = (16, 32),
                 cache_dir: str | None = None):
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
    def pretrain(self, X_train, seed: int = 0, model: ModelAdapter | None = None) -> DenoisingAutoencoder:
        """The label-free denoiser for this training set and seed (from the cache if there)."""
        adapter = model if model is not None else _digits_default(X_train)
        x = adapter.tensor(X_train)
        settings = {"synthetic": list(self.synthetic), "steps": self.pretrain_steps,
                    "channels": list(self.channels), "seed": seed,
                    "data": data_fingerprint(x.numpy())}
        key = cache_key("denoiser", settings)
        cached = load_cached(self.cache_dir, key, DenoisingAutoencoder)
        if cached is not None:
            return cached
        dae = self._pretrain(x, seed)
        if self.cache_dir is not None:
            save_cached(self.cache_dir, key, dae, settings)
        return dae

    def _pretrain(self, x: torch.Tensor, seed: int) -> DenoisingAutoencoder:
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        dae = DenoisingAutoencoder(channels=self.channels, in_channels=x.shape[1])
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
        return dae.eval()

    # ------------------------------------------------------------------ task fine-tuning
    def fine_tune(self, dae, classifier, x, yt, xl, yl, seed: int = 0) -> DenoisingAutoencoder:
        """A copy of ``dae`` tuned so ``classifier(dae(x))`` classifies the labeled samples
        (``x``, ``xl``: float image tensors; ``yt``, ``yl``: class positions)."""
        dae = copy.deepcopy(dae)
        clf = copy.deepcopy(classifier).eval()
        for p in clf.parameters():
            p.requires_grad_(False)
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed + 1)
        opt = torch.optim.Adam(dae.parameters(), lr=self.lr)
        dae.train()
        for _ in range(int(self.steps)):
            inp, target, idx = self._pair_batch(x, self.batch_size, g)
            out = dae(inp)
            # reconstruction keeps clean inputs intact; the task term keeps them classifiable
            loss = 10.0 * F.mse_loss(out, target) + self.task_weight * F.cross_entropy(clf(out), yt[idx])
            if len(xl):
                j = torch.randint(len(xl), (self.labeled_batch,), generator=g)
                xb = random_affine(xl[j], g) if self.augment else xl[j]
                loss = loss + self.task_weight * F.cross_entropy(clf(dae(xb)), yl[j])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return dae.eval()

    def improve(self, model, X_train, y_train, X_labeled, y_labeled, seed: int = 0):
        _check_inputs(X_train, y_train, X_labeled, y_labeled)
        adapter = _image_model(as_model(model), X_train, self.name)
        denoiser, clf = _split(adapter)
        if denoiser is None:
            denoiser = self.pretrain(X_train, seed, adapter)
        x, xl = adapter.tensor(X_train), adapter.tensor(X_labeled)
        yt = torch.as_tensor(adapter.label_index(y_train), dtype=torch.long)
        yl = torch.as_tensor(adapter.label_index(y_labeled), dtype=torch.long)
        dae = self.fine_tune(denoiser, clf, x, yt, xl, yl, seed)
        wrapped = DenoisedClassifier.from_modules(dae, clf, _classifier_init(adapter))
        return _like(model, adapter.with_native(wrapped))


def _digits_default(X_train) -> ModelAdapter:
    """The adapter used to read images when :meth:`DenoiserStrategy.pretrain` gets no model."""
    return TorchModel(torch.nn.Identity(), schema=InputSchema.from_data(X_train), init_kwargs={})


class CombinedStrategy(Strategy):
    """Denoiser first, then the classifier fine-tuned behind it (both settings objects)."""

    name = "combined"

    def __init__(self, *, denoiser: DenoiserStrategy | None = None,
                 retrain: RetrainStrategy | None = None):
        self.denoiser = denoiser
        self.retrain = retrain

    def improve(self, model, X_train, y_train, X_labeled, y_labeled, seed: int = 0):
        den = self.denoiser or DenoiserStrategy()
        ret = self.retrain or RetrainStrategy()
        wrapped = den.improve(as_model(model), X_train, y_train, X_labeled, y_labeled, seed)
        return _like(model, ret.improve(wrapped, X_train, y_train, X_labeled, y_labeled, seed))


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
        params = [p for p in inspect.signature(STRATEGIES[name].__init__).parameters if p != "self"]
        raise StrategyError(f"bad settings for strategy {name!r}: {exc}; it accepts {params}") from None


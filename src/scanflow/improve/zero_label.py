"""Zero-label adaptation: a first response to a shift before anyone has labeled a sample.

Each method turns the champion plus *unlabeled* samples of the shift into a candidate. Nothing
is promoted blindly: the loop serves such a candidate only after it beats the champion on the
first labeled samples of the episode (or a person approves it).

``align`` (tables; any model)
    per-column moment matching: every numeric column whose distribution moved (KS test on the
    drifted samples vs the training data) is mapped back onto the training data's mean and
    standard deviation before the model sees it — the fix for a recalibrated sensor or a
    change of units. The candidate is the champion behind a :class:`FeatureAligner`.
``denoise`` (torch image models)
    the champion behind a denoising autoencoder pretrained without labels on generic
    corruptions of the clean training images (noise, blur, occlusion).
``entropy`` (torch models)
    test-time adaptation by information maximisation on the drifted samples: confident
    predictions (low conditional entropy) that still use every class (high marginal entropy),
    with a replay of the training data at its own labels to stay anchored.

``auto`` picks ``align`` for tables and ``entropy`` for torch models: on the 15 MNIST-C
corruptions ``entropy`` recovered about three quarters of the lost accuracy and ``denoise`` about
a quarter (``benchmarks/zero_label.py``; docs/improve.md quotes the numbers).

Example:
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    >>> y = (X.a > 0).astype(int).to_numpy()
    >>> model = LogisticRegression().fit(X, y)
    >>> moved = X.assign(a=X.a * 10 + 5)                # the sensor of "a" was recalibrated
    >>> cand = get_zero_label("align").adapt(model, moved, X, y)
    >>> float((model.predict(moved) == y).mean()) < float((cand.predict(moved) == y).mean())
    True
"""

from __future__ import annotations

import copy
import inspect
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline

from scanflow.errors import ScanflowError
from scanflow.models import ModelAdapter, as_model, take
from scanflow.params import ParamsMixin

__all__ = ["ALIGNERS", "AlignStrategy", "DenoiseStrategy", "EntropyStrategy", "FeatureAligner",
           "ZeroLabelError", "ZeroLabelStrategy", "get_zero_label", "zero_label_for"]


class ZeroLabelError(ScanflowError, ValueError):
    """A zero-label method that does not apply to this model or data."""


class ZeroLabelStrategy(ParamsMixin, ABC):
    """Base class: ``adapt(model, X_drifted, X_train, y_train, seed) -> candidate``."""

    name: ClassVar[str] = ""

    @abstractmethod
    def applies_to(self, model: ModelAdapter) -> bool:
        """Whether this method can adapt ``model`` (by its flavor and input kind)."""

    @abstractmethod
    def _adapt(self, model: ModelAdapter, X_drifted, X_train, y_train, seed: int) -> ModelAdapter:
        """The candidate (every subclass)."""

    def adapt(self, model, X_drifted, X_train, y_train=None, seed: int = 0):
        adapter = as_model(model)
        adapter.ensure_schema(X_train)
        if not self.applies_to(adapter):
            raise ZeroLabelError(f"the {self.name!r} zero-label method does not apply to a "
                                 f"{adapter.flavor} model of {adapter.schema.describe()}")
        _check_labels(X_train, y_train)
        cand = self._adapt(adapter, X_drifted, X_train, y_train, seed)
        return cand if isinstance(model, ModelAdapter) else cand.native


def _check_labels(X_train, y_train) -> None:
    if y_train is not None and len(y_train) != len(X_train):
        raise ZeroLabelError(f"y_train has {len(y_train)} labels for {len(X_train)} training "
                             "samples (X_train): pass one label per training sample, or none")


# ----------------------------------------------------------------------------- align (tables)
class FeatureAligner(TransformerMixin, BaseEstimator):
    """A scikit-learn transformer mapping moved columns back onto the training moments.

    ``columns``: the moved columns; ``scale`` / ``shift``: ``x' = x * scale + shift`` each;
    ``feature_names``: every column the model takes (a DataFrame goes through unchanged
    otherwise).
    """

    def __init__(self, columns=(), scale=(), shift=(), feature_names=()):
        self.columns = columns
        self.scale = scale
        self.shift = shift
        self.feature_names = feature_names

    @property
    def feature_names_in_(self):
        return np.asarray(self.feature_names, dtype=object)

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        out = X.copy()
        for col, a, b in zip(self.columns, self.scale, self.shift, strict=True):
            out[col] = out[col] * a + b
        return out


def _moved_columns(X_drifted, X_train, alpha: float) -> list[tuple[str, float, float]]:
    moved = []
    numeric = [c for c in X_train.columns if np.issubdtype(np.asarray(X_train[c]).dtype, np.number)]
    for col in numeric:
        ref, new = np.asarray(X_train[col], float), np.asarray(X_drifted[col], float)
        if stats.ks_2samp(ref, new).pvalue * len(numeric) >= alpha:
            continue
        sd_new = new.std()
        scale = ref.std() / sd_new if sd_new > 1e-12 else 1.0
        moved.append((str(col), float(scale), float(ref.mean() - new.mean() * scale)))
    return moved


class AlignStrategy(ZeroLabelStrategy):
    """Moment matching of the moved numeric columns (see the module docstring).

    Args:
        alpha: significance (Bonferroni over columns) of the KS test that calls a column moved.
    """

    name = "align"

    def __init__(self, *, alpha: float = 0.01, cache_dir: str | None = None):
        self.alpha = alpha
        self.cache_dir = cache_dir  # unused: nothing to cache

    def applies_to(self, model: ModelAdapter) -> bool:
        return model.kind == "table" and model.flavor in ("sklearn", "scanflow_torch")

    def _adapt(self, model, X_drifted, X_train, y_train, seed):
        frame = model.inputs(X_drifted)
        moved = _moved_columns(frame, model.inputs(X_train), self.alpha)
        if not moved:
            raise ZeroLabelError("no column moved significantly: moment matching has nothing to fix")
        cols, scale, shift = (list(v) for v in zip(*moved, strict=True))
        aligner = FeatureAligner(cols, scale, shift, list(model.schema.names))
        if model.flavor == "sklearn":
            return model.with_native(Pipeline([("align", aligner), ("model", copy.deepcopy(model.native))]))
        # lazy: .wrappers imports torch; importing this module must not load it
        from .wrappers import AlignedClassifier

        return model.with_native(AlignedClassifier.from_aligner(aligner, model))


# ----------------------------------------------------------------------------- images
class DenoiseStrategy(ZeroLabelStrategy):
    """The champion behind a label-free pretrained denoiser (torch image models)."""

    name = "denoise"

    def __init__(self, *, pretrain_steps: int = 600, cache_dir: str | None = None):
        self.pretrain_steps = pretrain_steps
        self.cache_dir = cache_dir

    def applies_to(self, model: ModelAdapter) -> bool:
        return model.flavor == "scanflow_torch" and model.kind == "image"

    def _adapt(self, model, X_drifted, X_train, y_train, seed):
        # lazy: .denoiser and .strategies import torch; importing this module must not load it
        from .denoiser import DenoisedClassifier
        from .strategies import DenoiserStrategy, _classifier_init, _split  # lazy: as above

        denoiser, clf = _split(model)
        if denoiser is None:
            denoiser = DenoiserStrategy(pretrain_steps=self.pretrain_steps,
                                        cache_dir=self.cache_dir).pretrain(X_train, seed, model)
        return model.with_native(DenoisedClassifier.from_modules(denoiser, clf, _classifier_init(model)))


class EntropyStrategy(ZeroLabelStrategy):
    """Information maximisation on the drifted samples, anchored by a labeled replay (torch).

    Args:
        steps: optimisation steps; lr: Adam learning rate; batch_size: drifted samples per step;
        diversity: weight of the marginal-entropy term; replay: weight of the replay loss.
    """

    name = "entropy"

    def __init__(self, *, steps: int = 60, lr: float = 2e-4, batch_size: int = 64,
                 diversity: float = 1.0, replay: float = 1.0, cache_dir: str | None = None):
        self.cache_dir = cache_dir  # unused: nothing to cache
        self.steps = steps
        self.lr = lr
        self.batch_size = batch_size
        self.diversity = diversity
        self.replay = replay

    def applies_to(self, model: ModelAdapter) -> bool:
        return model.flavor == "scanflow_torch"

    def _adapt(self, model, X_drifted, X_train, y_train, seed):
        # lazy: torch (importing this module must not load it)
        import torch
        import torch.nn.functional as F  # lazy: as above

        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        net = copy.deepcopy(model.native).train()
        xd, xt = model.tensor(X_drifted), model.tensor(X_train)
        yt = None if y_train is None else torch.as_tensor(model.label_index(y_train), dtype=torch.long)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        for _ in range(int(self.steps)):
            p = F.softmax(net(xd[torch.randint(len(xd), (self.batch_size,), generator=g)]), dim=1)
            cond = -(p * torch.log(p + 1e-8)).sum(1).mean()
            marg = p.mean(0)
            loss = cond + self.diversity * (marg * torch.log(marg + 1e-8)).sum()
            if yt is not None and self.replay:
                j = torch.randint(len(xt), (self.batch_size,), generator=g)
                loss = loss + self.replay * F.cross_entropy(net(xt[j]), yt[j])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return model.with_native(net.eval())


ALIGNERS: dict[str, type[ZeroLabelStrategy]] = {
    cls.name: cls for cls in (AlignStrategy, DenoiseStrategy, EntropyStrategy)}


def get_zero_label(name: str, **params: Any) -> ZeroLabelStrategy:
    """A zero-label method by name (``align``, ``denoise``, ``entropy``)."""
    if name not in ALIGNERS:
        raise ZeroLabelError(f"unknown zero-label method {name!r}; choose one of "
                             f"{', '.join(ALIGNERS)}, 'auto' or 'off'")
    return ALIGNERS[name](**params)


def zero_label_for(model: Any, name: str = "auto", **params: Any) -> ZeroLabelStrategy | None:
    """The method to use for ``model`` (``auto``: by its kind); None when none applies / ``off``."""
    if name == "off":
        return None
    adapter = as_model(model)
    if name != "auto":
        method = get_zero_label(name, **params)
        return method if method.applies_to(adapter) else None
    for candidate in ("align", "entropy", "denoise"):  # by benchmarks/zero_label.py: entropy first
        cls = ALIGNERS[candidate]
        accepted = set(inspect.signature(cls.__init__).parameters)
        method = cls(**{k: v for k, v in params.items() if k in accepted})
        if method.applies_to(adapter):
            return method
    return None


def subsample(X, n: int, seed: int = 0):
    """At most ``n`` rows of ``X`` (all of them when it has fewer), chosen at random."""
    if len(X) <= n:
        return X
    return take(X, np.sort(np.random.default_rng(seed).choice(len(X), n, replace=False)))

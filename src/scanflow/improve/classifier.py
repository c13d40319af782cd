"""The MNIST demo's digit classifier, and helpers that default to it (MNIST only).

Everything general in Scanflow takes any model through :mod:`scanflow.models`; this module is
the reference demo's network and the shortcuts the MNIST experiment and tests use.

``MnistCNN`` is a two-block convolutional network (about 0.2 M weights) that takes images in
``[0, 1]`` of shape ``(n, 1, 28, 28)`` and returns logits; input normalisation lives inside
the module, so a served model needs no preprocessing beyond scaling to ``[0, 1]``. Its
constructor arguments are plain JSON values (``get_config()``), so the tracker can store a
state_dict plus a config and rebuild it.

The helpers accept images as numpy arrays or tensors: uint8 ``(n, 28, 28)`` as loaded by
``scanflow.datasets`` (scaled by 1/255), or floats already in ``[0, 1]``.

Example:
    >>> import numpy as np, torch
    >>> _ = torch.manual_seed(0)
    >>> X = np.random.default_rng(0).integers(0, 255, (64, 28, 28), dtype=np.uint8)
    >>> y = np.arange(64) % 10
    >>> model = train_classifier(X, y, epochs=1, seed=0)
    >>> predict_proba(model, X).shape
    (64, 10)
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from scanflow import models
from scanflow.models.torch_training import train_module

__all__ = [
    "DIGITS",
    "MnistCNN",
    "accuracy",
    "as_images",
    "predict",
    "predict_proba",
    "train_classifier",
]

_MEAN, _STD = 0.1307, 0.3081


#: The input of the digit classifier: one 28x28 grayscale image per sample.
DIGITS = models.InputSchema.image(28, 28)


@models.register_architecture
class MnistCNN(nn.Module):
    """conv(1→c1) → pool → conv(c1→c2) → pool → dense(hidden) → dense(num_classes).

    All settings are keyword arguments with JSON values, returned by :meth:`get_config`.
    """

    def __init__(
        self,
        *,
        channels: tuple[int, int] | list[int] = (32, 64),
        hidden: int = 128,
        dropout: float = 0.25,
        num_classes: int = 10,
    ):
        super().__init__()
        c1, c2 = (int(c) for c in channels)
        self.channels = [c1, c2]
        self.hidden = int(hidden)
        self.dropout = float(dropout)
        self.num_classes = int(num_classes)
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(self.dropout),
            nn.Linear(c2 * 7 * 7, self.hidden),
            nn.ReLU(),
            nn.Dropout(self.dropout),
            nn.Linear(self.hidden, self.num_classes),
        )

    def get_config(self) -> dict:
        """The constructor keyword arguments (JSON values) that rebuild this architecture."""
        return {
            "channels": list(self.channels),
            "hidden": self.hidden,
            "dropout": self.dropout,
            "num_classes": self.num_classes,
        }

    @property
    def init_kwargs(self) -> dict:
        """Same as :meth:`get_config`: what ``scanflow.track.log_torch_model`` stores."""
        return self.get_config()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features((x - _MEAN) / _STD))


def as_images(X) -> torch.Tensor:
    """MNIST digits as a float tensor ``(n, 1, 28, 28)`` in ``[0, 1]``.

    Integer arrays are divided by 255; float arrays whose maximum exceeds 1.5 are taken to be
    on the 0-255 scale as well. ``(n, 28, 28)`` and ``(n, 784)`` are reshaped. (For images of
    any other size use :func:`scanflow.models.as_images` with the model's schema.)
    """
    if isinstance(X, torch.Tensor):
        X = X.numpy()
    arr = np.asarray(X)
    if arr.dtype == object:
        raise TypeError("images must be a numeric array, got dtype=object")
    if arr.ndim == 2 and arr.shape[1] == 784:
        arr = arr.reshape(-1, 28, 28)
    try:
        return torch.from_numpy(models.as_images(arr, DIGITS))
    except models.SchemaError:
        raise ValueError(
            f"images must have shape (n, 28, 28), (n, 1, 28, 28) or (n, 784); got {arr.shape}"
        ) from None


def _adapter(model) -> models.ModelAdapter:
    return models.as_model(model, schema=None if isinstance(model, models.ModelAdapter) else DIGITS)


def predict_proba(model, X, batch_size: int = 1000) -> np.ndarray:
    """Class probabilities ``(n, 10)`` of any model (a module, an adapter...) on digits."""
    return _adapter(model).predict_proba(X)


def predict(model, X, batch_size: int = 1000) -> np.ndarray:
    """Predicted class per digit, int64 ``(n,)``."""
    return np.asarray(_adapter(model).predict(X)).astype(np.int64)


def accuracy(model, X, y) -> float:
    """Share of ``X`` that ``model`` classifies as ``y`` (0.0 for an empty set)."""
    y = np.asarray(y)
    if len(y) == 0:
        return 0.0
    return float((predict(model, X) == y).mean())


def train_classifier(
    X,
    y,
    *,
    epochs: int = 5,
    seed: int = 0,
    model: nn.Module | None = None,
    lr: float = 2e-3,
    batch_size: int = 64,
    augment=True,
    sample_weight=None,
    transform: nn.Module | None = None,
) -> nn.Module:
    """Train a digit classifier on ``(X, y)`` and return it.

    ``model=None`` trains a fresh :class:`MnistCNN`; otherwise a *copy* of ``model`` is
    fine-tuned (the given model is left untouched, so a champion is never modified in place).
    ``augment``, ``sample_weight`` and ``transform`` are those of
    :func:`scanflow.models.torch_training.train_module`.
    """
    x = as_images(X)
    y_t = torch.as_tensor(np.asarray(y), dtype=torch.long)
    torch.manual_seed(seed)  # a fresh network's initial weights come from the seed too
    net = MnistCNN() if model is None else copy.deepcopy(model)
    return train_module(net, x, y_t, epochs=epochs, lr=lr, batch_size=batch_size, augment=augment,
                        sample_weight=sample_weight, transform=transform, seed=seed,
                        warmup=0.2 if model is None else 0.05)

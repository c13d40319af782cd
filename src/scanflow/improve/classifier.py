"""The small digit classifier the improvement loop works on, and its training helpers.

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
import torch.nn.functional as F
from torch import nn

from .augment import random_affine

__all__ = [
    "MnistCNN",
    "accuracy",
    "as_images",
    "batched",
    "predict",
    "predict_proba",
    "train_classifier",
]

_MEAN, _STD = 0.1307, 0.3081


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
    """Images as a float tensor ``(n, 1, 28, 28)`` in ``[0, 1]``.

    Integer arrays are divided by 255; float arrays whose maximum exceeds 1.5 are taken to be
    on the 0-255 scale as well. ``(n, 28, 28)`` and ``(n, 784)`` are reshaped.
    """
    if isinstance(X, torch.Tensor):
        t = X
        integer = not t.is_floating_point()
    else:
        arr = np.asarray(X)
        if arr.dtype == object:
            raise TypeError("images must be a numeric array, got dtype=object")
        integer = arr.dtype.kind in "iub"
        t = torch.from_numpy(np.ascontiguousarray(arr))
    t = t.float()
    if integer or (t.numel() and float(t.max()) > 1.5):
        t = t / 255.0
    if t.ndim == 2 and t.shape[1] == 784:
        t = t.reshape(-1, 28, 28)
    if t.ndim == 3:
        t = t.unsqueeze(1)
    if t.ndim != 4 or t.shape[1] != 1:
        raise ValueError(
            f"images must have shape (n, 28, 28), (n, 1, 28, 28) or (n, 784); got {tuple(t.shape)}"
        )
    return t


def batched(model: nn.Module, X, batch_size: int = 1000) -> torch.Tensor:
    """Run ``model`` in eval mode over ``X`` in batches and concatenate the outputs."""
    x = as_images(X)
    was_training = model.training
    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            outs.append(model(x[i : i + batch_size]))
    model.train(was_training)
    if not outs:
        return torch.zeros(0, 10)
    return torch.cat(outs)


def predict_proba(model: nn.Module, X, batch_size: int = 1000) -> np.ndarray:
    """Class probabilities ``(n, 10)`` as a float numpy array."""
    return torch.softmax(batched(model, X, batch_size), dim=1).numpy()


def predict(model: nn.Module, X, batch_size: int = 1000) -> np.ndarray:
    """Predicted class per image, int64 ``(n,)``."""
    return batched(model, X, batch_size).argmax(dim=1).numpy().astype(np.int64)


def accuracy(model: nn.Module, X, y) -> float:
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
    """Train a classifier on ``(X, y)`` and return it.

    ``model=None`` trains a fresh :class:`MnistCNN`; otherwise a *copy* of ``model`` is
    fine-tuned (the given model is left untouched, so a champion is never modified in place).
    ``augment`` applies small random rotations, shifts and scalings: ``True`` to every image,
    ``False`` to none, or a boolean array (n,) to the marked images only.
    ``sample_weight`` (n,) weights each sample's loss. ``transform`` is a frozen module applied
    to the inputs first (e.g. a denoiser the classifier will sit behind). The learning rate
    follows a one-cycle cosine schedule; everything random draws from ``seed``.
    """
    x = as_images(X)
    y_t = torch.as_tensor(np.asarray(y), dtype=torch.long)
    if len(x) != len(y_t):
        raise ValueError(f"X has {len(x)} images but y has {len(y_t)} labels; pass one label each")
    if len(x) == 0:
        raise ValueError("cannot train on an empty set: X has no images")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if isinstance(augment, (bool, np.bool_)):
        aug = torch.full((len(x),), bool(augment))
    else:
        aug = torch.as_tensor(np.asarray(augment, dtype=bool))
        if len(aug) != len(x):
            raise ValueError(f"augment mask has {len(aug)} entries for {len(x)} images")
    w = (
        torch.ones(len(x))
        if sample_weight is None
        else torch.as_tensor(np.asarray(sample_weight), dtype=torch.float32)
    )
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = MnistCNN() if model is None else copy.deepcopy(model)
    net.train()
    if transform is not None:
        transform.eval()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=steps, pct_start=0.2 if model is None else 0.05
    )
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch_size):
            idx = order[i : i + batch_size]
            xb = x[idx]
            mask = aug[idx]
            if mask.all():
                xb = random_affine(xb, g)
            elif mask.any():
                xb = xb.clone()
                xb[mask] = random_affine(xb[mask], g)
            if transform is not None:
                with torch.no_grad():
                    xb = transform(xb)
            loss = (F.cross_entropy(net(xb), y_t[idx], reduction="none") * w[idx]).sum()
            loss = loss / w[idx].sum().clamp_min(1e-8)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    return net

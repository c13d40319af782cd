"""Models and data a user would bring, for the tests of the "any model" loop (not MNIST, not MnistCNN).

* :func:`wine` — the wine table that ships with scikit-learn (178 rows, 13 named columns, 3
  classes), split into train / test, and a "sensor recalibrated" shift of it;
* :func:`wine_pipeline` — a scikit-learn pipeline trained on it;
* :class:`ColorNet` — a user's own torch CNN for 3-channel 32x32 images;
* :func:`color_shapes` — 3-channel 32x32 images of four classes (a bright square, disc, cross or
  bar on a textured background), and a shift of them (a colour cast plus noise);
* :class:`TableNet` — a user's own torch MLP for the wine table.

Import it from any test as ``from user_models import ...`` (tests/ is on ``sys.path``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

WINE_SHIFT = {"alcohol": 0.01}  # the alcohol sensor now reports a fraction, not a percentage


def wine(seed: int = 0):
    """``(X_train, y_train, X_test, y_test)``: a stratified-ish random split of 118 / 60 rows."""
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True, as_frame=True)
    order = np.random.default_rng(seed).permutation(len(X))
    tr, te = order[:118], order[118:]
    return (X.iloc[tr].reset_index(drop=True), y.iloc[tr].to_numpy(),
            X.iloc[te].reset_index(drop=True), y.iloc[te].to_numpy())


def recalibrate(X, factors=None):
    """The wine table as read by recalibrated sensors: some columns scaled."""
    out = X.copy()
    for col, factor in (factors or WINE_SHIFT).items():
        out[col] = out[col] * factor
    return out


def wine_pipeline(X, y):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)


class ColorNet(nn.Module):
    """A small CNN for (3, 32, 32) images in [0, 1]; its settings are JSON (``init_kwargs``)."""

    def __init__(self, classes: int = 4, width: int = 16):
        super().__init__()
        self.init_kwargs = {"classes": classes, "width": width}
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(2 * width * 16, classes))

    def forward(self, x):
        return self.body(x)


class TableNet(nn.Module):
    """An MLP for standardised-inside tables: the mean and scale are buffers set by the user."""

    def __init__(self, features: int = 13, classes: int = 3, hidden: int = 32):
        super().__init__()
        self.init_kwargs = {"features": features, "classes": classes, "hidden": hidden}
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("scale", torch.ones(features))
        self.body = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, classes))

    def forward(self, x):
        return self.body((x - self.mean) / self.scale)


def _shape_masks(size: int = 32) -> list[np.ndarray]:
    r, c = np.mgrid[:size, :size]
    mid = size / 2
    square = (abs(r - mid) < 8) & (abs(c - mid) < 8)
    disc = (r - mid) ** 2 + (c - mid) ** 2 < 81
    cross = ((abs(r - mid) < 3) & (abs(c - mid) < 11)) | ((abs(c - mid) < 3) & (abs(r - mid) < 11))
    bar = (abs(r - mid) < 3) & (abs(c - mid) < 13)
    return [square, disc, cross, bar]


def color_shapes(n: int, seed: int = 0, shifted: bool = False):
    """``(X, y)``: uint8 images ``(n, 32, 32, 3)`` (channels last, like PIL) of 4 classes."""
    rng = np.random.default_rng(seed)
    masks = _shape_masks()
    y = rng.integers(0, 4, n)
    X = np.empty((n, 32, 32, 3), np.float32)
    for i, label in enumerate(y):
        bg = rng.uniform(0.1, 0.4, 3) + 0.08 * rng.normal(size=(32, 32, 3))
        fg = rng.uniform(0.6, 1.0, 3)
        shift = rng.integers(-3, 4, 2)
        mask = np.roll(masks[label], tuple(shift), axis=(0, 1))
        X[i] = np.where(mask[..., None], fg, bg)
    if shifted:
        X = 0.5 * X + np.array([0.45, 0.05, 0.3]) + 0.12 * rng.normal(size=X.shape)
    return (np.clip(X, 0, 1) * 255).astype(np.uint8), y


def train_color_net(X, y, epochs: int = 15, seed: int = 0) -> ColorNet:
    from scanflow.models import InputSchema, as_model

    torch.manual_seed(seed)
    adapter = as_model(ColorNet(), schema=InputSchema.from_data(X), classes=[0, 1, 2, 3])
    return adapter.fit_more(X, y, epochs=epochs, lr=3e-3, seed=seed, augment=False).native


_COLOR: dict[str, tuple] = {}


def color_train_data():
    """``(X, y)``: 400 clean colour-shape images the user's CNN trains on (an improver's
    ``train_data: user_models:color_train_data``)."""
    if "train" not in _COLOR:
        _COLOR["train"] = color_shapes(400, seed=0)
    return _COLOR["train"]


def color_clean_data():
    """``(X, y)``: 200 held-out clean colour-shape images (the gate's clean slice)."""
    if "clean" not in _COLOR:
        _COLOR["clean"] = color_shapes(200, seed=2)
    return _COLOR["clean"]

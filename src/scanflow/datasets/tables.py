"""A real table that ships with Scanflow, and realistic shifts of tables.

:func:`load_segment` loads UCI's Image Segmentation data (2,310 image regions, 18 numeric
features, 7 string classes; ``scanflow/data/segment/README.md``). Its shifts are physical:

* :func:`recalibrate_camera` — the camera's white balance changed: the red, green and blue
  gains move, and every colour feature moves with them (the raw channel means scale; intensity,
  excess-colour and value follow exactly; saturation and hue follow by the change of the
  channel means);
* :func:`change_population` — the mix of classes changes (more sky and grass, say): a
  population change that leaves each class's features as they were.

Both are deterministic functions of their arguments.

Example:
    >>> X, y = load_segment()
    >>> X.shape, sorted(set(y))[:3]
    ((2310, 18), ['brickface', 'cement', 'foliage'])
    >>> moved = recalibrate_camera(X[:5], gains=(1.3, 1.0, 0.8))
    >>> bool((moved["rawred-mean"] >= X["rawred-mean"][:5]).all())
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources

import numpy as np

from .loaders import DatasetError

__all__ = ["SEGMENT_CLASSES", "change_population", "load_segment", "recalibrate_camera",
           "split_segment"]

SEGMENT_CLASSES = ("brickface", "cement", "foliage", "grass", "path", "sky", "window")


def load_segment():
    """``(X, y)``: the 18 feature columns as a DataFrame (named as in UCI) and the class names."""
    # lazy: pandas, slow to import; only tables need it
    import pandas as pd

    path = resources.files("scanflow") / "data" / "segment" / "segment.csv.gz"
    with resources.as_file(path) as file:
        frame = pd.read_csv(file)
    y = frame.pop("category").to_numpy(dtype=object)
    return frame, y


def split_segment(seed: int = 0, train: int = 1000, holdout: int = 300):
    """``(X_train, y_train, X_holdout, y_holdout, X_stream, y_stream)``: a fixed random split."""
    X, y = load_segment()
    order = np.random.default_rng(seed).permutation(len(X))
    parts = np.split(order, [train, train + holdout])
    out = []
    for idx in parts:
        out += [X.iloc[idx].reset_index(drop=True), y[idx]]
    return tuple(out)


def _saturation_hue(R, G, B):
    top = np.maximum(np.maximum(R, G), B)
    low = np.minimum(np.minimum(R, G), B)
    sat = np.where(top > 0, (top - low) / np.where(top > 0, top, 1.0), 0.0)
    return sat, np.arctan2(np.sqrt(3) * (G - B), 2 * R - G - B)


def recalibrate_camera(X, gains: tuple[float, float, float] = (1.25, 1.0, 0.8)):
    """The same regions seen by a camera whose red, green and blue gains changed."""
    if len(gains) != 3 or min(gains) <= 0:
        raise DatasetError(f"gains must be three positive numbers (red, green, blue), got {gains}")
    X = X.copy()
    R0, G0, B0 = (X[f"raw{c}-mean"].to_numpy(float) for c in ("red", "green", "blue"))
    R, G, B = R0 * gains[0], G0 * gains[1], B0 * gains[2]
    X["rawred-mean"], X["rawgreen-mean"], X["rawblue-mean"] = R, G, B
    X["intensity-mean"] = (R + G + B) / 3
    X["exred-mean"], X["exblue-mean"] = 2 * R - (G + B), 2 * B - (R + G)
    X["exgreen-mean"] = 2 * G - (R + B)
    old_top = np.maximum(np.maximum(np.maximum(R0, G0), B0), 1e-9)
    X["value-mean"] = X["value-mean"] * np.maximum(np.maximum(R, G), B) / old_top
    s0, h0 = _saturation_hue(R0, G0, B0)
    s1, h1 = _saturation_hue(R, G, B)
    X["saturation-mean"] = np.clip(X["saturation-mean"] + s1 - s0, 0.0, 1.0)
    X["hue-mean"] = np.angle(np.exp(1j * (X["hue-mean"].to_numpy(float) + h1 - h0)))
    return X


def change_population(X, y, weights: Mapping[str, float], n: int, seed: int = 0):
    """``n`` rows drawn (with replacement) so that class ``c`` has share ``weights[c]``."""
    classes = list(weights)
    w = np.asarray([weights[c] for c in classes], float)
    if (w < 0).any() or w.sum() <= 0:
        raise DatasetError(f"class weights must be >= 0 with a positive sum, got {dict(weights)}")
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, w / w.sum())
    idx = np.concatenate([rng.choice(np.flatnonzero(np.asarray(y) == c), k) for c, k in
                          zip(classes, counts, strict=True) if k])
    idx = rng.permutation(idx)
    return X.iloc[idx].reset_index(drop=True), np.asarray(y)[idx]

"""The data the MNIST demo's agents read: the champion's training digits and held-out clean
digits (``train_data`` / ``eval_data`` of its improver).

>>> X, y = train_data()
>>> X.shape, clean_data()[0].shape
((5000, 28, 28), (1000, 28, 28))
"""

from __future__ import annotations

import numpy as np

__all__ = ["HOLDOUT", "clean_data", "train_data"]

HOLDOUT = slice(5000, 6000)  # of load_mnist("train"): never trained on, the clean gate slice


def train_data(limit: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    """The digits the champion is trained on (the first ``limit`` of the training split)."""
    # lazy: scanflow.datasets loads SciPy, which importing scanflow.demo skips
    from scanflow.datasets import load_mnist

    X, y = load_mnist("train")
    n = min(limit, HOLDOUT.start)
    return X[:n], y[:n]


def clean_data() -> tuple[np.ndarray, np.ndarray]:
    """1,000 clean digits the demo never trains on."""
    # lazy: scanflow.datasets loads SciPy, which importing scanflow.demo skips
    from scanflow.datasets import load_mnist

    X, y = load_mnist("train")
    return X[HOLDOUT], y[HOLDOUT]

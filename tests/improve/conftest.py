"""Shared, session-scoped small models for the improve tests (trained once, in seconds)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="session")
def digits():
    """2,000 clean training digits and 1,000 clean test digits."""
    from scanflow.datasets import load_mnist

    X, y = load_mnist("train", limit=2000)
    Xt, yt = load_mnist("test", limit=1000)
    return X, y, Xt, yt


@pytest.fixture(scope="session")
def base_cnn(digits):
    """A base CNN trained 2 epochs on 2,000 clean digits (about 95 % on clean test digits)."""
    from scanflow.improve.classifier import train_classifier

    torch.set_num_threads(1)
    X, y, _, _ = digits
    return train_classifier(X, y, epochs=2, seed=0)


@pytest.fixture(scope="session")
def ae_detector(digits):
    """The real autoencoder detector of scanflow.check, fitted briefly on clean digits."""
    from scanflow.check import AutoencoderDetector

    X, _, _, _ = digits
    return AutoencoderDetector(epochs=4, random_state=0, n_threads=1).fit(X[:1500])


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="session")
def corrupt_mix():
    """``f(X, names, seed)``: image i gets corruption ``names[i % len(names)]``; returns
    (corrupted X, the corruption name of each image)."""
    from scanflow.datasets import corrupt

    def f(X, names, seed=0):
        out = X.copy()
        which = np.array([names[i % len(names)] for i in range(len(X))])
        for k, n in enumerate(names):
            m = which == n
            out[m] = corrupt(X[m], n, seed=seed + k)
        return out, which

    return f

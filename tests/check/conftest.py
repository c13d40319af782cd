"""Shared data and fitted detectors for the check suite (small, so the suite stays fast)."""

from __future__ import annotations

import numpy as np
import pytest

from scanflow.check import Detector, register_detector
from scanflow.check.result import CheckResult
from scanflow.datasets import corrupt, load_mnist

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - torch is a dependency
    pass


@register_detector("example_mean_shift")
class MeanShiftDetector(Detector):
    """A user plugin: z-test on the batch mean of every feature (Bonferroni).

    Registered here, so the shared suite (parametrised over the registry) tests it like a
    built-in detector.
    """

    input_kinds = ("table",)

    def __init__(self, *, alpha: float = 0.05):
        self.alpha = alpha

    def _fit(self, data):
        x = data.flat()
        self.mean_ = x.mean(0)
        self.std_ = np.where(x.std(0) > 1e-12, x.std(0), 1.0)

    def _score(self, data):
        return np.abs((data.flat() - self.mean_) / self.std_).mean(1)

    def _predict(self, data):
        from scipy import stats

        x = data.flat()
        z = (x.mean(0) - self.mean_) / (self.std_ / np.sqrt(len(x)))
        p = np.minimum(1.0, 2 * stats.norm.sf(np.abs(z)) * x.shape[1])
        return CheckResult(detector=self.name, is_drift=bool(p.min() < self.alpha),
                           score=float(np.abs(z).max()), threshold=self.alpha,
                           p_value=float(p.min()), n_samples=len(x),
                           instance_scores=self._score(data))

    def _get_state(self):
        meta, arrays = super()._get_state()
        arrays.update(mean_=self.mean_, std_=self.std_)
        return meta, arrays

    def _set_state(self, meta, arrays):
        super()._set_state(meta, arrays)
        self.mean_, self.std_ = arrays["mean_"], arrays["std_"]


@pytest.fixture(scope="session")
def mnist_small():
    X_ref, _ = load_mnist("train", limit=400)
    X_new, _ = load_mnist("test", limit=1000)
    return X_ref, X_new


def _table_data(seed: int):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(3000, 2))
    x = np.column_stack([z[:, 0], z[:, 0] * 0.8 + 0.6 * z[:, 1], z[:, 1], rng.normal(size=3000)])
    return x[:1000], x[1000:]


def _cat_data(seed: int):
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = 3000
    df = pd.DataFrame({
        "colour": rng.choice(["red", "blue"], size=n, p=[0.3, 0.7]),
        "size": rng.choice(["S", "M", "L"], size=n, p=[0.2, 0.5, 0.3]),
    })
    return df.iloc[:1000].reset_index(drop=True), df.iloc[1000:].reset_index(drop=True)


class KindData:
    """Reference data, a clean pool and an obviously shifted pool for one input kind."""

    def __init__(self, kind, ref, clean, shifted, batch_size):
        self.kind, self.ref, self.clean, self.shifted = kind, ref, clean, shifted
        self.batch_size = batch_size

    def batches(self, pool, n, seed=0):
        rng = np.random.default_rng(seed)
        for _ in range(n):
            idx = rng.choice(len(pool), self.batch_size, replace=False)
            yield pool.iloc[idx] if hasattr(pool, "iloc") else pool[idx]


@pytest.fixture(scope="session")
def kind_data(mnist_small):
    X_ref, X_new = mnist_small
    t_ref, t_new = _table_data(0)
    c_ref, c_new = _cat_data(1)
    c_shift = c_new.copy()
    c_shift["colour"] = np.where(np.arange(len(c_shift)) % 10 < 6, "red", "blue")
    c_shift.loc[::7, "size"] = "XL"
    return {
        "image": KindData("image", X_ref, X_new, corrupt(X_new[:300], "fog", seed=0), 100),
        "table": KindData("table", t_ref, t_new, t_new + np.array([2.5, 0, -2.5, 0]), 200),
        "categorical": KindData("categorical", c_ref, c_new, c_shift, 200),
    }


# named columns for the table kind, deliberately not in alphabetical order
TABLE_COLUMNS = ["income", "age", "score", "noise"]


@pytest.fixture(scope="session")
def named_data(kind_data):
    """Table and categorical data with column names (DataFrames), for name matching."""
    import pandas as pd

    t = kind_data["table"]

    def frame(x):
        return pd.DataFrame(x, columns=TABLE_COLUMNS)

    return {
        "table": KindData("table", frame(t.ref), frame(t.clean), frame(t.shifted),
                          t.batch_size),
        "categorical": kind_data["categorical"],
    }


_FITTED: dict = {}


@pytest.fixture(scope="session")
def fitted(small_ae):
    """fitted(name, kind) -> a detector fitted once per session on that kind's reference."""
    from scanflow.check import get_detector_class

    _FITTED[("ae", "image")] = small_ae  # same settings as AutoencoderDetector._test_params()

    def get(name, kind, data):
        key = (name, kind)
        if key not in _FITTED:
            cls = get_detector_class(name)
            _FITTED[key] = cls(**cls._test_params()).fit(data.ref)
        return _FITTED[key]

    return get


@pytest.fixture(scope="session")
def fitted_named(fitted, named_data):
    """fitted_named(name, kind) -> a detector fitted once per session on named columns."""
    from scanflow.check import get_detector_class

    def get(name, kind):
        data = named_data[kind]
        if kind == "categorical":  # that data already has names
            return fitted(name, kind, data)
        key = (name, kind, "named")
        if key not in _FITTED:
            cls = get_detector_class(name)
            _FITTED[key] = cls(**cls._test_params()).fit(data.ref)
        return _FITTED[key]

    return get


@pytest.fixture(scope="session")
def small_ae(mnist_small):
    """One small conv AE trained on 400 MNIST digits, shared by the tests that only read it."""
    from scanflow.check import AutoencoderDetector

    X_ref, _ = mnist_small
    return AutoencoderDetector(epochs=2, min_steps=150, batch_size=32, latent_dim=8,
                               random_state=0).fit(X_ref)

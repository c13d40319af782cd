"""Every selector works with every registered detector (the default detector included), on
images and on tables: no selector reaches for a method only the autoencoder has."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scanflow.check import available_detectors, get_detector, get_detector_class
from scanflow.improve.selection import SELECTORS, get_selector

torch = pytest.importorskip("torch")

SMALL = {"ae": {"epochs": 2, "min_steps": 60}, "default": {"epochs": 2, "n_permutations": 20},
         "latent": {"epochs": 2, "n_permutations": 20}, "accepting": {"base": "pca"}}


def _table(n, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n, 5)) + shift, columns=list("abcde"))


@pytest.fixture(scope="module")
def fitted():
    """Each table detector fitted once for the module."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = get_detector(name, **SMALL.get(name, {})).fit(_table(400, 1))
        return cache[name]
    return get


@pytest.fixture(scope="module")
def table_model():
    from sklearn.linear_model import LogisticRegression

    X = _table(300, 0)
    return LogisticRegression().fit(X, (X["a"] > 0).astype(int))


@pytest.mark.parametrize("detector_name", [d for d in available_detectors()
                                           if "table" in get_detector_class(d).input_kinds
                                           and d not in ("chi2",)])
@pytest.mark.parametrize("selector_name", sorted(SELECTORS))
def test_every_selector_works_with_every_table_detector(detector_name, selector_name, table_model,
                                                        fitted):
    detector = fitted(detector_name)
    pool = _table(60, 2, shift=1.5)
    chosen = get_selector(selector_name).select(pool, 10, model=table_model, detector=detector, seed=0)
    assert len(chosen) <= 10 and len(set(chosen.tolist())) == len(chosen)
    assert all(0 <= i < len(pool) for i in chosen)


@pytest.fixture(scope="module")
def image_detector(digits):
    from scanflow.check import default_detector

    return default_detector(epochs=2, n_permutations=20).fit(digits[0][:600])


@pytest.mark.parametrize("selector_name", ["reconstruction", "hybrid", "kcenter"])
def test_the_papers_selectors_work_with_the_default_detector_on_images(selector_name, digits, base_cnn,
                                                                        image_detector):
    from scanflow.datasets import corrupt

    detector = image_detector
    pool = corrupt(digits[2][:80], "fog", seed=0)
    chosen = get_selector(selector_name).select(pool, 10, model=base_cnn, detector=detector, seed=0)
    assert 0 < len(chosen) <= 10

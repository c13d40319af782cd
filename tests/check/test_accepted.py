"""AcceptingDetector: an accepted shift raises no alarm, a new one does, and an acceptance
named by its decision is learnt once (a replay after a crash changes nothing), across a save."""

from __future__ import annotations

import numpy as np
import pytest

from scanflow.check import Detector
from scanflow.check.accepted import AcceptingDetector

pytest.importorskip("torch")


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(600, 4)), rng.normal(size=(300, 4)) + [4, 0, 0, 0], rng.normal(size=(100, 4))


@pytest.fixture
def detector(data):
    return AcceptingDetector(base="pca", base_params={"n_components": 2}, epochs=30).fit(data[0])


def test_an_accepted_shift_is_normal_and_clean_data_stays_normal(detector, data):
    _, shifted, clean = data
    assert detector.predict(shifted[:100]).is_drift
    detector.accept(shifted[100:], key="settle-1")
    assert not detector.predict(shifted[:100]).is_drift and not detector.predict(clean).is_drift


def test_a_new_kind_of_shift_still_drifts_after_an_acceptance(detector, data):
    _, shifted, clean = data
    detector.accept(shifted[100:], key="settle-1")
    other = clean.copy()
    other[:, 3] = other[:, 3] * 4.0 - 6.0
    assert detector.predict(other).is_drift


def test_accepting_again_under_the_same_key_learns_nothing_even_after_a_save(detector, data, tmp_path):
    _, shifted, _ = data
    detector.accept(shifted[100:], key="settle-1")
    detector.save(tmp_path / "det.npz")
    loaded = Detector.load(tmp_path / "det.npz")
    loaded.accept(shifted[100:], key="settle-1")
    assert loaded.n_accepted == 1 and loaded.accepted_keys_ == ["settle-1"]
    loaded.accept(shifted[:100], key="settle-2")
    assert loaded.n_accepted == 2

"""Every selection strategy honours one contract; the paper's and the diverse one behave as named."""

from __future__ import annotations

import numpy as np
import pytest

from scanflow.improve.selection import SELECTORS, SelectionError, get_selector


@pytest.fixture(scope="module")
def pool(digits, corrupt_mix):
    """300 test digits: a third clean, a third fog, a third stripe."""
    _, _, Xt, yt = digits
    X = Xt[:300].copy()
    Xc, which = corrupt_mix(X[100:], ["fog", "stripe"], seed=5)
    X[100:] = Xc
    return X, yt[:300], np.concatenate([np.full(100, "none"), which])


@pytest.mark.parametrize("name", sorted(SELECTORS))
def test_selector_returns_distinct_positions_within_the_budget(name, pool, base_cnn, ae_detector):
    X, _, _ = pool
    idx = get_selector(name).select(X, 25, model=base_cnn, detector=ae_detector, seed=0)
    assert idx.dtype == np.int64 and len(idx) <= 25
    assert len(np.unique(idx)) == len(idx) and (idx >= 0).all() and (idx < len(X)).all()
    assert len(idx) == 25  # a drifted pool has more than 25 candidates for every strategy


@pytest.mark.parametrize("name", sorted(SELECTORS))
def test_selector_is_deterministic_for_a_seed(name, pool, base_cnn, ae_detector):
    X, _, _ = pool
    sel = get_selector(name)
    a = sel.select(X, 10, model=base_cnn, detector=ae_detector, seed=4)
    b = sel.select(X, 10, model=base_cnn, detector=ae_detector, seed=4)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", sorted(SELECTORS))
def test_zero_budget_selects_nothing(name, pool, base_cnn, ae_detector):
    X, _, _ = pool
    assert len(get_selector(name).select(X, 0, model=base_cnn, detector=ae_detector)) == 0


def test_bad_budget_is_refused_with_the_field_name():
    with pytest.raises(SelectionError, match="budget"):
        get_selector("random").select(np.zeros((3, 28, 28), np.uint8), -1)


def test_missing_detector_is_named(base_cnn):
    with pytest.raises(SelectionError, match="detector="):
        get_selector("reconstruction").select(np.zeros((3, 28, 28), np.uint8), 2, model=base_cnn)


def test_missing_model_is_named():
    with pytest.raises(SelectionError, match="model="):
        get_selector("entropy").select(np.zeros((3, 28, 28), np.uint8), 2)


def test_unknown_strategy_lists_the_known_ones():
    with pytest.raises(SelectionError, match="kcenter"):
        get_selector("uncertainty")


def test_reconstruction_picks_the_worst_reconstructed_flagged_samples(pool, ae_detector):
    X, _, _ = pool
    idx = get_selector("reconstruction").select(X, 20, detector=ae_detector)
    err = ae_detector.reconstruction_error(X)
    assert (err[idx] > ae_detector.threshold_).all()
    assert err[idx].min() >= np.sort(err)[-20]


def test_reconstruction_spends_few_labels_on_a_clean_pool(digits, ae_detector):
    _, _, Xt, _ = digits
    idx = get_selector("reconstruction").select(Xt[300:600], 100, detector=ae_detector)
    assert len(idx) < 40  # only the detector's false alarms (about its fpr) are candidates


def test_selected_samples_are_drifted_not_clean(pool, base_cnn, ae_detector):
    X, _, which = pool
    for name in ("reconstruction", "hybrid", "kcenter", "entropy"):
        idx = get_selector(name).select(X, 30, model=base_cnn, detector=ae_detector, seed=0)
        assert (which[idx] != "none").mean() >= 0.8, name


def test_kcenter_spreads_a_batch_over_more_kinds_of_drift_than_the_paper_rule(
    digits, corrupt_mix, base_cnn, ae_detector
):
    _, _, Xt, _ = digits
    names = ["fog", "stripe", "brightness", "zigzag", "canny_edges", "impulse_noise"]
    X, which = corrupt_mix(Xt[:360], names, seed=9)
    paper = get_selector("reconstruction").select(X, 12, detector=ae_detector)
    diverse = get_selector("kcenter").select(X, 12, model=base_cnn, detector=ae_detector, seed=0)
    assert len(set(which[diverse])) > len(set(which[paper]))


def test_get_selector_passes_settings_and_reports_bad_ones():
    assert get_selector("hybrid", weight=0.8).get_params()["weight"] == 0.8
    with pytest.raises(SelectionError, match="weight"):
        get_selector("random", weight=0.8)

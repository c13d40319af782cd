"""Improvement strategies: candidates are new models that learn the drift from a few labels.

What every strategy does whatever the model (never modify the champion, same seed same
candidate, bad input named) is checked in test_strategy_suite.py; here, what each one learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scanflow.improve.classifier import MnistCNN, accuracy, predict_proba
from scanflow.improve.denoiser import DenoisedClassifier, DenoisingAutoencoder
from scanflow.improve.strategies import (
    CombinedStrategy,
    DenoiserStrategy,
    RetrainStrategy,
    StrategyError,
    get_strategy,
)

FAST_DENOISER = {"pretrain_steps": 60, "steps": 40}


@pytest.fixture(scope="module")
def brightness(digits):
    """Labeled brightness-corrupted digits (40) and a disjoint held-out set (300)."""
    from scanflow.datasets import corrupt

    _, _, Xt, yt = digits
    Xb = corrupt(Xt[:340], "brightness", seed=1)
    return Xb[:40], yt[:40], Xb[40:], yt[40:340]


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_retrain_learns_the_drift_from_forty_labels(base_cnn, digits, brightness):
    X, y, _, _ = digits
    Xl, yl, Xh, yh = brightness
    cand = RetrainStrategy(epochs=1).improve(base_cnn, X, y, Xl, yl, seed=0)
    assert isinstance(cand, MnistCNN)
    assert accuracy(cand, Xh, yh) > accuracy(base_cnn, Xh, yh) + 0.1


def test_denoiser_wraps_the_champion_into_one_servable_module(
    base_cnn, digits, brightness, tmp_path
):
    from scanflow.models import load_torch_folder, save_torch_model

    X, y, Xt, _ = digits
    Xl, yl, Xh, yh = brightness
    cand = DenoiserStrategy(**FAST_DENOISER, cache_dir=str(tmp_path / "cache")).improve(
        base_cnn, X, y, Xl, yl, seed=0
    )
    assert isinstance(cand, DenoisedClassifier)
    assert _same_weights(cand.classifier, base_cnn)  # the classifier is reused, frozen
    again = load_torch_folder(save_torch_model(cand, tmp_path / "model"))
    np.testing.assert_allclose(
        predict_proba(again, Xh[:20]), predict_proba(cand, Xh[:20]), atol=1e-5
    )
    assert accuracy(cand, Xh, yh) > accuracy(base_cnn, Xh, yh) + 0.1


def test_denoiser_pretraining_is_cached_per_seed(digits, tmp_path):
    X, _, _, _ = digits
    strat = DenoiserStrategy(pretrain_steps=20, cache_dir=str(tmp_path))
    first = strat.pretrain(X[:200], seed=0)
    assert len(list(tmp_path.glob("denoiser-*.pt"))) == 1
    second = strat.pretrain(X[:200], seed=0)
    assert _same_weights(first, second)
    strat.pretrain(X[:200], seed=1)
    assert len(list(tmp_path.glob("denoiser-*.pt"))) == 2


def test_untrained_denoiser_is_the_identity():
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(DenoisingAutoencoder()(x), x)


def test_combined_retrains_the_classifier_behind_the_denoiser(base_cnn, digits, brightness):
    X, y, _, _ = digits
    Xl, yl, Xh, yh = brightness
    strat = CombinedStrategy(
        denoiser=DenoiserStrategy(**FAST_DENOISER), retrain=RetrainStrategy(epochs=1, replay=500)
    )
    cand = strat.improve(base_cnn, X, y, Xl, yl, seed=0)
    assert isinstance(cand, DenoisedClassifier)
    assert not _same_weights(cand.classifier, base_cnn)
    assert accuracy(cand, Xh, yh) > accuracy(base_cnn, Xh, yh) + 0.1


def test_retrain_of_a_wrapped_champion_keeps_its_denoiser(base_cnn, digits, brightness):
    X, y, _, _ = digits
    Xl, yl, _, _ = brightness
    wrapped = DenoisedClassifier.from_modules(DenoisingAutoencoder(), base_cnn)
    cand = RetrainStrategy(epochs=1, replay=200).improve(wrapped, X, y, Xl, yl, seed=0)
    assert isinstance(cand, DenoisedClassifier)
    assert _same_weights(cand.denoiser, wrapped.denoiser)


def test_get_strategy_builds_by_name_and_lists_the_known_ones(tmp_path):
    assert isinstance(get_strategy("retrain", epochs=1), RetrainStrategy)
    assert get_strategy("denoiser", cache_dir=str(tmp_path)).cache_dir == str(tmp_path)
    assert isinstance(get_strategy("combined"), CombinedStrategy)
    with pytest.raises(StrategyError, match="retrain, denoiser, combined"):
        get_strategy("distill")

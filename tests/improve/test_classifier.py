"""MnistCNN and its helpers: input handling, training, and a config the tracker can rebuild."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scanflow.improve.classifier import (
    MnistCNN,
    accuracy,
    as_images,
    predict,
    predict_proba,
    train_classifier,
)


def test_as_images_scales_uint8_and_reshapes_to_one_channel():
    x = as_images(np.full((2, 28, 28), 255, np.uint8))
    assert x.shape == (2, 1, 28, 28) and float(x.max()) == 1.0


def test_as_images_keeps_unit_floats_and_rescales_0_255_floats():
    assert float(as_images(np.full((1, 28, 28), 0.5)).max()) == 0.5
    assert float(as_images(np.full((1, 784), 128.0)).max()) == pytest.approx(128 / 255)


def test_as_images_names_the_expected_shapes():
    with pytest.raises(ValueError, match=r"\(n, 28, 28\)"):
        as_images(np.zeros((2, 3, 28, 28), np.uint8))


def test_predict_proba_rows_are_distributions():
    p = predict_proba(MnistCNN(), np.zeros((5, 28, 28), np.uint8))
    assert p.shape == (5, 10)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


def test_base_cnn_learns_clean_digits(base_cnn, digits):
    _, _, Xt, yt = digits
    assert accuracy(base_cnn, Xt, yt) > 0.9


def test_fine_tuning_returns_a_copy_and_leaves_the_champion_untouched(base_cnn, digits):
    X, y, _, _ = digits
    before = {k: v.clone() for k, v in base_cnn.state_dict().items()}
    tuned = train_classifier(X[:64], y[:64], epochs=1, seed=1, model=base_cnn)
    assert tuned is not base_cnn
    assert all(torch.equal(before[k], v) for k, v in base_cnn.state_dict().items())
    assert any(not torch.equal(before[k], v) for k, v in tuned.state_dict().items())


def test_training_is_reproducible_with_a_seed(digits):
    X, y, Xt, _ = digits
    a = train_classifier(X[:128], y[:128], epochs=1, seed=3)
    b = train_classifier(X[:128], y[:128], epochs=1, seed=3)
    np.testing.assert_array_equal(predict(a, Xt[:50]), predict(b, Xt[:50]))


def test_training_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="labels"):
        train_classifier(np.zeros((4, 28, 28), np.uint8), [0, 1], epochs=1)


def test_tracker_rebuilds_the_model_from_its_json_config(tmp_path, base_cnn, digits):
    from scanflow.models import load_torch_folder, save_torch_model

    _, _, Xt, _ = digits
    folder = save_torch_model(base_cnn, tmp_path / "m")  # uses base_cnn.init_kwargs
    again = load_torch_folder(folder)
    assert isinstance(again, MnistCNN) and again.get_config() == base_cnn.get_config()
    np.testing.assert_allclose(
        predict_proba(again, Xt[:20]), predict_proba(base_cnn, Xt[:20]), atol=1e-6
    )

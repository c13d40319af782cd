"""AutoencoderDetector: training reliability, calibration once, two tails, per-sample API."""

from __future__ import annotations

import numpy as np
import pytest

from scanflow.check import AutoencoderDetector, Detector, TrainingCollapseWarning
from scanflow.datasets import corrupt


@pytest.fixture
def ae(small_ae):
    return small_ae


def test_bce_training_learns_more_than_the_mean_image(ae):
    assert not ae.collapsed_
    assert ae.training_loss_[-1] < 0.9 * ae.baseline_loss_
    assert ae.training_loss_[-1] < ae.training_loss_[0]


def test_collapse_is_detected_and_reported(mnist_small):
    X_ref, _ = mnist_small
    # far too little training to beat the mean image: must be flagged, not silently used
    det = AutoencoderDetector(epochs=1, min_steps=0, batch_size=400, max_restarts=1,
                              random_state=0)
    with pytest.warns(TrainingCollapseWarning, match="collapsed"):
        det.fit(X_ref)
    assert det.collapsed_ and det.n_restarts_ == 1


def test_threshold_is_calibrated_once_and_stored(ae, mnist_small):
    _, X_new = mnist_small
    before = (ae.threshold_, ae.lower_threshold_)
    ae.predict(corrupt(X_new[:100], "fog"))
    ae.predict(X_new[:100])
    assert (ae.threshold_, ae.lower_threshold_) == before
    assert ae.lower_threshold_ < ae.threshold_
    # per-sample flags do not depend on the other samples of the batch
    one = ae.predict(X_new[:50]).is_outlier
    mixed = ae.predict(np.concatenate([X_new[:50], corrupt(X_new[50:100], "fog")])).is_outlier
    assert one == mixed[:50]


def test_clean_flag_rate_matches_the_configured_fpr(ae, mnist_small):
    _, X_new = mnist_small
    rate = np.mean(ae.predict(X_new).is_outlier)
    assert 0.0 < rate < 0.15


def test_p_values_are_uniform_ish_on_clean_and_small_on_fog(ae, mnist_small):
    _, X_new = mnist_small
    p_clean = ae.p_values(X_new)
    p_fog = ae.p_values(corrupt(X_new[:200], "fog"))
    assert ((p_clean > 0) & (p_clean <= 1)).all()
    assert 0.3 < np.median(p_clean) < 0.7
    assert np.median(p_fog) < 0.2 < np.median(p_clean)


def test_two_tailed_test_catches_images_that_are_easier_to_reconstruct(ae, mnist_small):
    _, X_new = mnist_small
    faint = (X_new[:200] * 0.35).astype(np.uint8)  # low contrast: lower error than clean
    assert np.median(ae.reconstruction_error(faint)) < np.median(ae.reference_scores_)
    result = ae.predict(faint)
    assert result.is_drift
    assert result.metadata["direction"] == "lower"
    upper_only = AutoencoderDetector(**{**ae.get_params(), "tail": "upper"})
    upper_only._set_state(*ae._get_state())  # same network ...
    upper_only._calibrate(ae.reference_scores_)  # ... one-sided thresholds
    assert upper_only.lower_threshold_ is None
    assert np.mean(upper_only.predict(faint).is_outlier) < np.mean(result.is_outlier)


def test_latent_reconstruct_and_errors_have_the_documented_shapes(ae, mnist_small):
    _, X_new = mnist_small
    x = X_new[:7]
    assert ae.latent(x).shape == (7, 8)
    rec = ae.reconstruct(x)
    assert rec.shape == (7, 28, 28) and rec.dtype == np.float32
    assert 0.0 <= rec.min() and rec.max() <= 1.0
    assert ae.reconstruct(x[:, None].astype(np.float32) / 255).shape == (7, 1, 28, 28)
    assert ae.reconstruction_error(x).shape == (7,)
    # uint8 and [0, 1] floats are the same images
    np.testing.assert_allclose(ae.reconstruction_error(x),
                               ae.reconstruction_error(x.astype(np.float32) / 255), rtol=1e-5)


def test_float_images_outside_unit_range_are_rejected(ae, mnist_small):
    _, X_new = mnist_small
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ae.score(X_new[:5].astype(np.float32))


def test_denoising_autoencoder_removes_more_noise_than_a_plain_one(ae, mnist_small):
    X_ref, X_new = mnist_small
    det = AutoencoderDetector(epochs=2, min_steps=150, batch_size=32, latent_dim=8,
                              denoising=True, noise_std=0.3, random_state=0).fit(X_ref)
    clean = X_new[:50].astype(np.float32) / 255
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 0.3, clean.shape), 0, 1)
    denoised = det.reconstruct(noisy.astype(np.float32))
    plain = ae.reconstruct(noisy.astype(np.float32))
    assert np.mean((denoised - clean) ** 2) < np.mean((plain - clean) ** 2)


def test_dense_autoencoder_on_tables(kind_data):
    data = kind_data["table"]
    det = AutoencoderDetector(epochs=5, latent_dim=2, random_state=0).fit(data.ref)
    assert det.latent(data.clean[:5]).shape == (5, 2)
    assert det.reconstruct(data.clean[:5]).shape == (5, 4)
    assert det.predict(data.shifted[:200]).is_drift


def test_saved_file_is_plain_npz_without_pickles(ae, tmp_path):
    path = ae.save(tmp_path / "ae")
    assert path.suffix == ".npz"
    with np.load(path, allow_pickle=False) as z:
        assert "__scanflow__" in z.files
        assert all(z[k].dtype != object for k in z.files)
    loaded = Detector.load(path)
    assert loaded.threshold_ == ae.threshold_


def test_loading_a_file_that_is_not_a_detector_fails_clearly(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(ValueError, match="not a Scanflow detector"):
        Detector.load(path)

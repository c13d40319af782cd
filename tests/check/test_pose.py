"""The pose detector, and the default detector's pose test (images only)."""

from __future__ import annotations

import numpy as np
import pytest

from scanflow.check import Detector, PoseDetector, default_detector
from scanflow.datasets import corrupt


@pytest.fixture(scope="module")
def pose(mnist_small):
    X_ref, _ = mnist_small
    return PoseDetector(epochs=4, random_state=0).fit(X_ref)


def test_rotated_and_sheared_digits_are_far_from_the_reference_pose(pose, mnist_small):
    _, X_new = mnist_small
    clean = pose.score(X_new[:300]).mean()
    assert pose.score(corrupt(X_new[:300], "rotate", seed=0)).mean() > clean
    assert pose.score(corrupt(X_new[:300], "shear", seed=0)).mean() > clean


def test_a_rotated_batch_is_drift_and_a_clean_one_is_not(pose, mnist_small):
    _, X_new = mnist_small
    assert not pose.predict(X_new[:100]).is_drift
    result = pose.predict(corrupt(X_new[100:200], "rotate", seed=1))
    assert result.is_drift
    assert result.metadata["batch_test"] == "ranksum"
    assert set(result.metadata["mean_pose_shift"]) == {"rotation", "shear", "zoom"}


def test_predicted_pose_has_one_row_of_three_per_image(pose, mnist_small):
    _, X_new = mnist_small
    assert pose.predict_pose(X_new[:7]).shape == (7, 3)


def test_non_square_colour_images_of_any_size_work(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(120, 18, 30, 3), dtype=np.uint8)
    det = PoseDetector(epochs=1, min_steps=10, random_state=0).fit(X)
    assert det.score(X[:5]).shape == (5,)
    again = Detector.load(det.save(tmp_path / "pose.npz"))
    np.testing.assert_allclose(again.score(X[:5]), det.score(X[:5]))


def test_tables_have_no_pose(kind_data):
    with pytest.raises(ValueError, match="image"):
        PoseDetector().fit(kind_data["table"].ref)
    det = default_detector(epochs=2, n_permutations=50).fit(kind_data["table"].ref)
    assert det.pose_ is None
    result = det.predict(kind_data["table"].clean[:200])
    assert set(result.metadata["components"]) == {"reconstruction_error", "latent_mmd"}


def test_the_pose_test_can_be_turned_off(kind_data):
    det = default_detector(epochs=2, latent_dim=8, n_permutations=50, pose=False)
    det.fit(kind_data["image"].ref)
    assert det.pose_ is None
    assert "pose" not in det.predict(kind_data["image"].clean[:50]).metadata["components"]


def test_the_ranksum_batch_test_serves_every_calibrated_detector(kind_data):
    from scanflow.check import PCADetector

    data = kind_data["table"]
    det = PCADetector(batch_test="ranksum").fit(data.ref)
    assert not det.predict(data.clean[:200]).is_drift
    shifted = det.predict(data.shifted[:200])
    assert shifted.is_drift and shifted.metadata["batch_test"] == "ranksum"

"""MNIST-C corruptions (deterministic, shape/dtype preserving, doing what they say) and streams."""

from __future__ import annotations

import numpy as np
import pytest

from scanflow.datasets import CORRUPTIONS, CorruptionError, corrupt, load_mnist, make_stream


@pytest.fixture(scope="module")
def digits():
    return load_mnist("test", limit=20)[0]


def test_the_fifteen_published_corruptions():
    assert len(CORRUPTIONS) == 15
    assert CORRUPTIONS[0] == "shot_noise" and CORRUPTIONS[-1] == "canny_edges"


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_corruption_is_deterministic_and_keeps_shape_and_dtype(digits, name):
    a = corrupt(digits, name, seed=3)
    assert a.shape == digits.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, corrupt(digits, name, seed=3))
    assert not np.array_equal(a, digits)
    single = corrupt(digits[0], name, seed=3)
    assert single.shape == (28, 28)


RANDOM = [n for n in CORRUPTIONS if n not in ("scale", "brightness", "stripe", "canny_edges")]


@pytest.mark.parametrize("name", RANDOM)
def test_random_corruptions_change_with_the_seed(digits, name):
    assert not np.array_equal(corrupt(digits, name, seed=0), corrupt(digits, name, seed=1))


def test_corruptions_do_what_their_names_say(digits):
    x = digits.astype(float)
    assert corrupt(digits, "brightness").min() >= 127
    stripe = corrupt(digits, "stripe").astype(float)
    np.testing.assert_array_equal(stripe[:, :, 7:21], x[:, :, 7:21])
    np.testing.assert_array_equal(stripe[:, :, :7], 255 - x[:, :, :7])
    assert corrupt(digits, "scale").astype(float).sum() < 0.7 * x.sum()  # zoomed out
    edges = corrupt(digits, "canny_edges")
    assert set(np.unique(edges)) <= {0, 255}
    noisy = corrupt(digits, "impulse_noise")
    changed = (noisy != digits).mean()
    assert 0.05 < changed < 0.17  # 17 % replaced, about half by their own value
    rot = corrupt(digits, "rotate").astype(float)
    assert abs(rot.sum() - x.sum()) / x.sum() < 0.05  # rotation keeps the ink


def test_translate_moves_the_centre_of_mass_by_three_pixels(digits):
    moved = corrupt(digits, "translate", seed=0).astype(float)
    cols = np.arange(28)
    cx = (digits.astype(float).sum(1) * cols).sum(1) / digits.astype(float).sum((1, 2))
    mx = (moved.sum(1) * cols).sum(1) / moved.sum((1, 2))
    assert np.allclose(np.abs(mx - cx), 3, atol=0.6)


def test_bad_inputs_are_refused(digits):
    with pytest.raises(CorruptionError, match="unknown corruption"):
        corrupt(digits, "snow")
    with pytest.raises(CorruptionError, match="28, 28"):
        corrupt(np.zeros((2, 32, 32), np.uint8), "fog")
    with pytest.raises(CorruptionError, match="uint8"):
        corrupt(digits.astype(np.int32), "fog")
    with pytest.raises(CorruptionError, match=r"\[0, 1\]"):
        corrupt(digits.astype(np.float32), "fog")


def test_sudden_stream_has_ground_truth():
    X, y = load_mnist("test", limit=300)
    stream = make_stream(X, y, batch_size=20, n_clean=3, n_drift=2, corruption="rotate", seed=1)
    assert len(stream) == 5 and all(len(b) == 20 for b in stream)
    assert [b.drift_share for b in stream] == [0, 0, 0, 1, 1]
    assert set(stream[-1].corruption) == {"rotate"} and set(stream[0].corruption) == {"none"}
    assert stream[2].start == 40
    again = make_stream(X, y, batch_size=20, n_clean=3, n_drift=2, corruption="rotate", seed=1)
    np.testing.assert_array_equal(stream[4].X, again[4].X)


def test_gradual_stream_with_a_mixture():
    X, _ = load_mnist("test", limit=1000)
    stream = make_stream(X, batch_size=100, n_clean=2, n_drift=6, mode="gradual", transition=4,
                         corruption={"fog": 1, "stripe": 1}, seed=0)
    shares = [b.drift_share for b in stream]
    assert shares[:2] == [0, 0] and shares[-2:] == [1, 1]
    assert shares[2] < shares[3] < shares[5]
    names = set(np.concatenate([b.corruption for b in stream]))
    assert names == {"none", "fog", "stripe"}


def test_stream_errors_name_the_problem():
    X, _ = load_mnist("test", limit=50)
    with pytest.raises(CorruptionError, match="unknown corruption"):
        make_stream(X, corruption=["fog", "rain"])
    with pytest.raises(CorruptionError, match="mode"):
        make_stream(X, mode="slow")

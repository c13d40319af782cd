"""Loaders: IDX (gz or not), npy/npz, CSV/Parquet, CIFAR-10 batches, the bundled MNIST."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pandas as pd
import pytest

from scanflow.datasets import (
    DatasetError,
    load_any,
    load_cifar10_batch,
    load_mnist,
    load_npy,
    load_npz,
    load_table,
    mnist_dir,
    read_idx,
    write_idx,
)


def test_bundled_mnist_test_set_is_the_official_one():
    X = read_idx(mnist_dir() / "t10k-images-idx3-ubyte.gz")
    y = read_idx(mnist_dir() / "t10k-labels-idx1-ubyte.gz")
    assert X.shape == (10000, 28, 28) and X.dtype == np.uint8
    assert y.shape == (10000,) and set(np.unique(y)) == set(range(10))
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the well-known first labels


@pytest.mark.parametrize("split,n", [("train", 6000), ("test", 5000), ("all", 11000)])
def test_load_mnist_splits_have_the_contract_sizes_and_types(split, n):
    X, y = load_mnist(split)
    assert X.shape == (n, 28, 28) and X.dtype == np.uint8
    assert y.shape == (n,) and y.dtype == np.int64


@pytest.mark.parametrize("scheme", ["mixed", "contiguous"])
def test_train_and_test_never_share_an_image(scheme):
    Xtr, _ = load_mnist("train", scheme=scheme)
    Xte, _ = load_mnist("test", scheme=scheme)
    train = {x.tobytes() for x in Xtr}
    assert not any(x.tobytes() in train for x in Xte)
    assert len(train | {x.tobytes() for x in Xte}) >= 10990  # (MNIST has a few duplicates)


def test_contiguous_scheme_is_the_plain_convention():
    X, _ = load_mnist("test", scheme="contiguous")
    t10k = read_idx(mnist_dir() / "t10k-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(X, t10k[5000:])


def test_mixed_split_is_fixed_and_limit_takes_a_prefix():
    a, ya = load_mnist("train", limit=10)
    b, yb = load_mnist("train")
    np.testing.assert_array_equal(a, b[:10])
    np.testing.assert_array_equal(ya, yb[:10])
    with pytest.raises(DatasetError, match="split"):
        load_mnist("validation")


def test_idx_round_trip_plain_and_gzip(tmp_path):
    arr = np.random.default_rng(0).integers(0, 255, size=(5, 28, 28), dtype=np.uint8)
    for name in ("x-idx3-ubyte", "x-idx3-ubyte.gz"):
        path = write_idx(tmp_path / name, arr)
        np.testing.assert_array_equal(read_idx(path), arr)
    with gzip.open(tmp_path / "x-idx3-ubyte.gz") as fh:
        assert fh.read(4) == b"\x00\x00\x08\x03"


def test_truncated_idx_is_reported(tmp_path):
    path = write_idx(tmp_path / "t-idx1-ubyte", np.arange(10, dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DatasetError, match="truncated"):
        read_idx(path)
    (tmp_path / "junk").write_bytes(b"hello world")
    with pytest.raises(DatasetError, match="not an IDX"):
        read_idx(tmp_path / "junk")


def test_npy_and_npz_refuse_pickled_objects(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DatasetError, match="unpickl|Object"):
        load_npy(tmp_path / "obj.npy")
    np.savez(tmp_path / "d.npz", X=np.ones((2, 3)), y=np.array([0, 1]))
    d = load_npz(tmp_path / "d.npz")
    assert set(d) == {"X", "y"}
    X, y = load_any(tmp_path / "d.npz")
    assert X.shape == (2, 3) and y.tolist() == [0, 1]


def test_tables_csv_and_parquet(tmp_path):
    df = pd.DataFrame({"a": [1.0, 2.0], "colour": ["red", "blue"]})
    df.to_csv(tmp_path / "t.csv", index=False)
    pd.testing.assert_frame_equal(load_table(tmp_path / "t.csv"), df)
    pytest.importorskip("pyarrow")
    df.to_parquet(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(load_table(tmp_path / "t.parquet"), df)
    (tmp_path / "t.json").write_text("{}")
    with pytest.raises(DatasetError, match="unknown table format"):
        load_table(tmp_path / "t.json")


def test_cifar10_batch_is_read_without_running_code(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 255, size=(4, 3072), dtype=np.uint8)
    with open(tmp_path / "data_batch_1", "wb") as fh:
        pickle.dump({b"data": data, b"labels": [0, 1, 2, 3], b"batch_label": b"x"}, fh)
    X, y = load_cifar10_batch(tmp_path / "data_batch_1")
    assert X.shape == (4, 32, 32, 3) and y.tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(X[0, :, :, 0].ravel(), data[0, :1024])

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / "data_batch_2", "wb") as fh:
        pickle.dump({b"data": Evil(), b"labels": [0]}, fh)
    with pytest.raises(DatasetError, match="refusing"):
        load_cifar10_batch(tmp_path / "data_batch_2")

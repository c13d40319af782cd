"""Loaders for the data formats Scanflow's detectors and examples use.

Every loader returns plain numpy arrays (or a pandas DataFrame for tables) and never
unpickles anything: ``.npy`` / ``.npz`` files are opened with ``allow_pickle=False`` and the
CIFAR-10 python batches, which are pickles by design, are read with a restricted unpickler
that only builds dicts, lists, strings, numbers and byte strings.

The MNIST data shipped with Scanflow (``scanflow/data/mnist``) is the official 10,000-image
test set plus 1,000 images drawn from the training set. :func:`load_mnist` splits these
11,000 images into ``"train"`` (6,000) and ``"test"`` (5,000) that never share an image and
come from the same population (``"all"`` is train followed by test).

The default ``scheme="mixed"`` is a fixed, seeded stratified split: each of the three sources
(the 1,000 training-set images, t10k[:5000] and t10k[5000:]) is shared 6:5 between train and
test, and each split is shuffled once (fixed seed), so ``limit`` gives a representative
subset. Why not simply train = training sample + t10k[:5000], test = t10k[5000:]
(``scheme="contiguous"``, still available): the sources are written by different
populations (t10k[:5000] by NIST SD-3 Census employees, t10k[5000:] by SD-1 students, the
training sample by yet other writers), so with that split a clean "test" batch of 100 is
*really* shifted from the reference: an MMD test on raw pixels flags 100 % of clean test
batches of 100 (measured), and no detector can keep its false alarms down. With the mixed
split clean test batches are exchangeable with the reference. (Cost: writers of the official
test set appear in both splits, which makes classifier accuracy on "test" slightly optimistic.)

Example:
    >>> X, y = load_mnist("test", limit=3)
    >>> X.shape, X.dtype.name, y.dtype.name
    ((3, 28, 28), 'uint8', 'int64')
"""

from __future__ import annotations

import gzip
import pickle
from importlib import resources
from pathlib import Path

import numpy as np

from scanflow.errors import ScanflowError

__all__ = [
    "DatasetError",
    "load_any",
    "load_cifar10_batch",
    "load_mnist",
    "load_npy",
    "load_npz",
    "load_table",
    "mnist_dir",
    "read_idx",
    "save_array",
    "write_idx",
]

_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

MNIST_SPLITS = ("train", "test", "all")
MNIST_SCHEMES = ("mixed", "contiguous")


class DatasetError(ScanflowError, ValueError):
    """A data file is missing, malformed or of an unsupported format."""


def _open(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (MNIST, Fashion-MNIST, EMNIST), gzipped or not.

    Gzip is detected from the file's magic bytes, not its name.

    Example:
        >>> X = read_idx(mnist_dir() / "t10k-labels-idx1-ubyte.gz")
        >>> X.shape
        (10000,)
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"IDX file not found: {path}")
    with _open(path) as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DatasetError(
            f"{path}: not an IDX file (the first two bytes must be zero; got {data[:4]!r}). "
            "Pass an MNIST-format file such as t10k-images-idx3-ubyte[.gz]."
        )
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise DatasetError(f"{path}: unknown IDX data type code 0x{code:02x}")
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(data[4:header], dtype=">u4"))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise DatasetError(
            f"{path}: IDX header announces shape {shape} ({expected} bytes) but the file holds "
            f"{len(data) - header} bytes of data; the file is truncated or corrupt."
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file (gzip if ``compress`` or the name ends with ``.gz``)."""
    path = Path(path)
    arr = np.asarray(array)
    if arr.dtype == np.uint8:
        code, payload = 0x08, arr
    elif arr.dtype == np.int8:
        code, payload = 0x09, arr
    elif arr.dtype.kind in "iu":
        code, payload = 0x0C, arr.astype(">i4")
    elif arr.dtype.kind == "f":
        code, payload = 0x0E, arr.astype(">f8")
    else:
        raise DatasetError(f"cannot write dtype {arr.dtype} as IDX; use uint8, int or float")
    head = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    blob = head + np.ascontiguousarray(payload).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with (gzip.open(path, "wb") if compress else open(path, "wb")) as fh:
        fh.write(blob)
    return path


def load_npy(path: str | Path) -> np.ndarray:
    """Load a ``.npy`` array without allowing pickled objects."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"file not found: {path} (packaged data: mnist:train, mnist:test, "
                           "segment)")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise DatasetError(
            f"{path}: cannot load ({exc}). Object arrays are refused because loading them "
            "would unpickle untrusted data; save numeric arrays instead."
        ) from exc


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Load every array of a ``.npz`` archive into a dict (no pickled objects)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"file not found: {path} (packaged data: mnist:train, mnist:test, "
                           "segment)")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as exc:
        raise DatasetError(f"{path}: cannot load without unpickling ({exc})") from exc


def load_table(path: str | Path, **kwargs):
    """Load a CSV (``.csv``, ``.csv.gz``, ``.tsv``) or Parquet file as a pandas DataFrame."""
    # lazy: pandas, slow to import; only tables need it
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"file not found: {path} (packaged data: mnist:train, mnist:test, "
                           "segment)")
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        try:
            return pd.read_parquet(path, **kwargs)
        except ImportError as exc:
            raise DatasetError(
                f"{path}: reading Parquet needs pyarrow; install it with "
                "`pip install scanflow[parquet]`"
            ) from exc
    if name.endswith((".tsv", ".tsv.gz")):
        kwargs.setdefault("sep", "\t")
    if name.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt")):
        return pd.read_csv(path, **kwargs)
    raise DatasetError(f"{path}: unknown table format; use .csv, .tsv or .parquet")


_NUMPY_ARRAY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _SafeUnpickler(pickle.Unpickler):
    """Builds only plain containers and numpy arrays: refuses every other class lookup, so
    no code can run (CIFAR-10's pixel block is a pickled ndarray)."""

    def find_class(self, module, name):  # noqa: D401
        if (module, name) in _NUMPY_ARRAY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: a CIFAR-10 batch holds only dicts, lists, "
            "strings, bytes and numpy arrays"
        )


def load_cifar10_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 "python version" batch (``data_batch_1``, ``test_batch``).

    Returns ``(X, y)`` with ``X`` uint8 of shape ``(n, 32, 32, 3)`` (channels last) and ``y``
    int64. The file is a pickle; it is read with an unpickler that refuses every class, so a
    tampered file cannot run code.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"CIFAR-10 batch not found: {path}")
    with open(path, "rb") as fh:
        try:
            batch = _SafeUnpickler(fh, encoding="bytes").load()
        except pickle.UnpicklingError as exc:
            raise DatasetError(f"{path}: not a CIFAR-10 python batch ({exc})") from exc
    if not isinstance(batch, dict):
        raise DatasetError(f"{path}: expected a dict with b'data' and b'labels'")
    batch = {(k.decode() if isinstance(k, bytes) else k): v for k, v in batch.items()}
    if "data" not in batch or not ({"labels", "fine_labels"} & batch.keys()):
        raise DatasetError(f"{path}: missing 'data' or 'labels' (keys: {sorted(batch)})")
    data = batch["data"]
    if isinstance(data, (bytes, bytearray)):
        data = np.frombuffer(data, dtype=np.uint8)
    data = np.asarray(data, dtype=np.uint8)
    labels = np.asarray(batch.get("labels", batch.get("fine_labels")), dtype=np.int64)
    if data.size != len(labels) * 3072:
        raise DatasetError(f"{path}: {data.size} bytes of pixels for {len(labels)} labels")
    X = data.reshape(len(labels), 3, 32, 32).transpose(0, 2, 3, 1).copy()
    return X, labels


def mnist_dir() -> Path:
    """The folder holding the MNIST files shipped with Scanflow."""
    return Path(str(resources.files("scanflow") / "data" / "mnist"))


def load_mnist(
    split: str = "train", limit: int | None = None, *, scheme: str = "mixed"
) -> tuple[np.ndarray, np.ndarray]:
    """Load the bundled real MNIST digits: ``(X uint8 (n, 28, 28), y int64 (n,))``.

    ``split`` is ``"train"`` (6,000 images), ``"test"`` (5,000 images) or ``"all"`` (train
    then test); training and test never share an image. ``limit`` keeps the first ``limit``
    images of the split (a representative subset: the splits are shuffled once).
    ``scheme="mixed"`` (default) shares every source 6:5 between train and test so both
    come from the same population; ``scheme="contiguous"`` gives train = training sample +
    t10k[:5000], test = t10k[5000:] (see the module docstring for why that split drifts).
    """
    if split not in MNIST_SPLITS:
        raise DatasetError(f"split={split!r} is not one of {MNIST_SPLITS}")
    if scheme not in MNIST_SCHEMES:
        raise DatasetError(f"scheme={scheme!r} is not one of {MNIST_SCHEMES}")
    if limit is not None and (not isinstance(limit, (int, np.integer)) or limit < 0):
        raise DatasetError(f"limit must be a non-negative integer or None, got {limit!r}")
    folder = mnist_dir()
    X10k = read_idx(folder / "t10k-images-idx3-ubyte.gz")
    y10k = read_idx(folder / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    Xs = np.load(folder / "train-sample-1000-images.npy", allow_pickle=False)
    ys = np.load(folder / "train-sample-1000-labels.npy", allow_pickle=False).astype(np.int64)
    X_all = np.concatenate([Xs, X10k])
    y_all = np.concatenate([ys, y10k])
    train_idx, test_idx = _mnist_split_indices(scheme)
    idx = {"train": train_idx, "test": test_idx,
           "all": np.concatenate([train_idx, test_idx])}[split]
    X, y = X_all[idx], y_all[idx]
    if limit is not None:
        X, y = X[:limit], y[:limit]
    return np.ascontiguousarray(X, dtype=np.uint8), np.ascontiguousarray(y, dtype=np.int64)


def _mnist_split_indices(scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices into [training sample (1000), t10k (10000)] for the train and test splits."""
    if scheme == "contiguous":
        return np.arange(6000), np.arange(6000, 11000)
    rng = np.random.default_rng(20190226)  # fixed: the split is part of the data contract
    train, test = [], []
    for start, stop, n_train in ((0, 1000, 545), (1000, 6000, 2728), (6000, 11000, 2727)):
        perm = start + rng.permutation(stop - start)
        train.append(perm[:n_train])
        test.append(perm[n_train:])
    train_idx, test_idx = np.concatenate(train), np.concatenate(test)
    return rng.permutation(train_idx), rng.permutation(test_idx)


def load_any(path: str | Path):
    """Load a data file by its format, for the CLI.

    Returns ``(X, y)``: ``X`` an array (images / features) or a DataFrame (tables), ``y`` the
    labels when the file carries them (``.npz`` with ``y``/``labels``) or ``None``.
    Formats: ``.npy``, ``.npz`` (array ``X``/``x``/``images``/``data`` or the only array),
    ``.csv``/``.tsv``/``.parquet``, IDX (``*-ubyte``, optionally ``.gz``) and CIFAR-10 batches;
    or the name of packaged data (``mnist:test``, see :mod:`scanflow.datasets.packaged`).
    """
    from .packaged import is_packaged, load_packaged  # lazy: packaged imports this module

    if is_packaged(path):
        return load_packaged(str(path))
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"file not found: {path} (packaged data: mnist:train, mnist:test, "
                           "segment)")
    name = path.name.lower()
    if name.endswith(".npy"):
        return load_npy(path), None
    if name.endswith(".npz"):
        arrays = load_npz(path)
        for key in ("X", "x", "images", "data", "arr_0"):
            if key in arrays:
                X = arrays[key]
                break
        else:
            if len(arrays) != 1:
                raise DatasetError(
                    f"{path}: cannot tell which array holds the data ({sorted(arrays)}); "
                    "name it 'X'"
                )
            X = next(iter(arrays.values()))
        y = next((arrays[k] for k in ("y", "labels") if k in arrays), None)
        return X, y
    if name.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz", ".parquet", ".pq", ".txt")):
        return load_table(path), None
    if "ubyte" in name or name.endswith((".idx", ".idx.gz")):
        return read_idx(path), None
    if name.startswith(("data_batch", "test_batch")):
        return load_cifar10_batch(path)
    raise DatasetError(
        f"{path}: unknown data format; use .npy, .npz, .csv, .parquet, IDX or a CIFAR-10 batch"
    )


def save_array(path: str | Path, X: np.ndarray, y: np.ndarray | None = None, **extra) -> Path:
    """Save images/features (and labels) as ``.npy`` (X only) or ``.npz`` (X, y, extras)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npy":
        np.save(path, np.asarray(X), allow_pickle=False)
    elif path.suffix == ".npz":
        arrays = {"X": np.asarray(X)}
        if y is not None:
            arrays["y"] = np.asarray(y)
        arrays.update({k: np.asarray(v) for k, v in extra.items()})
        np.savez_compressed(path, **arrays)
    elif "ubyte" in path.name:
        write_idx(path, X)
    else:
        raise DatasetError(f"{path}: choose an output ending in .npy, .npz or -ubyte[.gz]")
    return path



TARGET_COLUMNS = ("target", "label", "y", "class")


def load_labeled(path: str | Path, target: str | None = None):
    """``(X, y)`` from a labeled data file: a table whose ``target`` column holds the labels
    (default: the first of ``target``, ``label``, ``y``, ``class`` present), or an ``.npz`` with
    an ``X`` and a ``y`` array.

    >>> import tempfile, pandas as pd
    >>> f = tempfile.mkdtemp() + "/d.csv"
    >>> pd.DataFrame({"a": [1.0, 2.0], "target": [0, 1]}).to_csv(f, index=False)
    >>> X, y = load_labeled(f)
    >>> list(X.columns), y.tolist()
    (['a'], [0, 1])
    """
    X, y = load_any(path)
    if y is not None and hasattr(X, "columns"):  # packaged tables come with their labels
        return X, np.asarray(y)
    if hasattr(X, "columns"):
        names = [target] if target else [c for c in TARGET_COLUMNS if c in X.columns]
        if not names or names[0] not in X.columns:
            raise DatasetError(f"{path}: no label column {target or ' / '.join(TARGET_COLUMNS)!r} "
                               f"among {list(X.columns)[:8]}; name it with target=")
        return X.drop(columns=[names[0]]), X[names[0]].to_numpy()
    if y is None:
        raise DatasetError(f"{path}: no labels; save the arrays as .npz with X and y")
    return X, np.asarray(y)

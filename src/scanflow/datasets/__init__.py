"""Datasets: loaders (MNIST IDX, CIFAR-10, npy/npz, CSV/Parquet), MNIST-C corruptions, streams,
and a real table (UCI Image Segmentation) with realistic shifts.

Lightweight: numpy and scipy only (pandas is imported by the table loader when called).

Example:
    >>> from scanflow.datasets import load_mnist, corrupt, CORRUPTIONS
    >>> X, y = load_mnist("train", limit=8)
    >>> corrupt(X, "rotate", seed=0).shape
    (8, 28, 28)
"""

from .corruptions import CORRUPTIONS, CorruptionError, corrupt, corruption_function
from .loaders import (
    DatasetError,
    load_any,
    load_cifar10_batch,
    load_labeled,
    load_mnist,
    load_npy,
    load_npz,
    load_table,
    mnist_dir,
    read_idx,
    save_array,
    write_idx,
)
from .packaged import PACKAGED_DATA, is_packaged, load_packaged
from .stream import StreamBatch, make_stream
from .tables import (
    SEGMENT_CLASSES,
    change_population,
    load_segment,
    recalibrate_camera,
    split_segment,
)

__all__ = [
    "CORRUPTIONS",
    "PACKAGED_DATA",
    "SEGMENT_CLASSES",
    "CorruptionError",
    "DatasetError",
    "StreamBatch",
    "corrupt",
    "corruption_function",
    "change_population",
    "is_packaged",
    "load_any",
    "load_cifar10_batch",
    "load_labeled",
    "load_mnist",
    "load_npy",
    "load_npz",
    "load_packaged",
    "load_segment",
    "load_table",
    "make_stream",
    "recalibrate_camera",
    "mnist_dir",
    "read_idx",
    "save_array",
    "split_segment",
    "write_idx",
]

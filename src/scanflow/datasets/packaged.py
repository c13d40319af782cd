"""Data that ships with Scanflow, by name, accepted wherever a command reads data (``--data``,
``--reference``, ``--input``, ``label add``): ``mnist:train``, ``mnist:test`` and ``segment``.

>>> X, y = load_packaged("mnist:test", limit=3)
>>> X.shape, y.shape
((3, 28, 28), (3,))
"""

from __future__ import annotations

from typing import Any

from .loaders import DatasetError, load_mnist

__all__ = ["PACKAGED_DATA", "is_packaged", "load_packaged"]

PACKAGED_DATA = {
    "mnist:train": "6,000 MNIST digits (uint8, 28x28) with labels: the training part",
    "mnist:test": "5,000 other MNIST digits with labels, from the same population",
    "segment": "2,310 image regions: 18 named measurements (a table) and 7 class names",
}


def is_packaged(source: object) -> bool:
    """Whether ``source`` names packaged data (``mnist:test``), not a file."""
    return str(source) in PACKAGED_DATA or str(source).startswith("mnist:")


def load_packaged(name: str, limit: int | None = None) -> tuple[Any, Any]:
    """``(X, y)`` of the packaged data ``name``; ``limit`` keeps the first rows."""
    name = str(name)
    if name.startswith("mnist:"):
        split = name.split(":", 1)[1]
        if f"mnist:{split}" not in PACKAGED_DATA:
            raise DatasetError(f"no packaged data {name!r}: use mnist:train or mnist:test")
        return load_mnist(split, limit=limit)
    if name == "segment":
        from .tables import load_segment  # lazy: pandas, slow to import; only tables need it

        X, y = load_segment()
        return (X, y) if limit is None else (X.iloc[:limit], y[:limit])
    known = ", ".join(PACKAGED_DATA)
    raise DatasetError(f"no packaged data {name!r}: use one of {known}, or a file")

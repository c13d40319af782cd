"""Samples as the loop passes them around — arrays or DataFrames — and their checks against a schema.

The loop never cares whether ``X`` is a numpy array (images, tensors) or a pandas DataFrame
(tables): :func:`n_samples`, :func:`take` and :func:`concat` work on both. :func:`as_frame`,
:func:`as_images` and :func:`as_tensor` turn what arrives into what a model takes, and say
precisely what does not fit.

Example:
    >>> import numpy as np, pandas as pd
    >>> from scanflow.models.schema import InputSchema
    >>> s = InputSchema.table(["a", "b"])
    >>> as_frame(pd.DataFrame({"b": [1.0], "a": [2.0]}), s).columns.tolist()   # matched by name
    ['a', 'b']
    >>> as_frame(pd.DataFrame({"a": [2.0]}), s)
    Traceback (most recent call last):
    ...
    scanflow.models.schema.SchemaError: columns: missing column 'b' (send every column of the schema: a, b)
    >>> as_images(np.zeros((2, 32, 48, 3), np.uint8), InputSchema.image(32, 48, channels=3)).shape
    (2, 3, 32, 48)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .schema import InputSchema, SchemaError

__all__ = ["as_frame", "as_images", "as_model_input", "as_tensor", "concat", "n_samples", "take"]


def n_samples(X: Any) -> int:
    return len(X)


def take(X: Any, idx: Any) -> Any:
    """Rows ``idx`` of an array or a DataFrame (positions, not labels)."""
    idx = np.asarray(idx, dtype=np.int64)
    if hasattr(X, "iloc"):
        return X.iloc[idx].reset_index(drop=True)
    return np.asarray(X)[idx]


def concat(parts: Sequence[Any]) -> Any:
    """Arrays or DataFrames one after the other (an empty list gives an empty array)."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return np.zeros((0,))
    if any(hasattr(p, "iloc") for p in parts):
        # lazy: pandas, slow to import; only table models need it
        import pandas as pd

        frames = [p if hasattr(p, "iloc") else pd.DataFrame(np.asarray(p)) for p in parts]
        return pd.concat(frames, ignore_index=True)
    return np.concatenate([np.asarray(p) for p in parts])


def _frame_of(X: Any, schema: InputSchema):
    # lazy: pandas, slow to import; only table models need it
    import pandas as pd

    if hasattr(X, "columns") and hasattr(X, "iloc"):
        return X
    if isinstance(X, dict):
        X = [X]
    if isinstance(X, list) and X and isinstance(X[0], dict):
        return pd.DataFrame.from_records(X)
    arr = np.asarray(X)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != len(schema.columns):
        raise SchemaError("X", f"has shape {arr.shape}; the model takes {schema.describe()}",
                          "pass a DataFrame with those columns, or rows of that many values")
    return pd.DataFrame(arr, columns=schema.names)


def _check_column_type(frame, col) -> None:
    # lazy: pandas, slow to import; only table models need it
    import pandas as pd

    series = frame[col.name]
    if col.numeric and not (pd.api.types.is_numeric_dtype(series)
                            or pd.api.types.is_bool_dtype(series)):
        bad = series[pd.to_numeric(series, errors="coerce").isna() & series.notna()]
        if len(bad):
            raise SchemaError(col.name, f"holds {bad.iloc[0]!r}, not a number ({col.type})",
                              f"send a number for {col.name!r}")


def as_frame(X: Any, schema: InputSchema):
    """``X`` as a DataFrame with the schema's columns, in its order, with numeric columns numeric.

    A missing or extra column is a :class:`SchemaError` naming it; a value that cannot be a
    number in a numeric column names the column.
    """
    # lazy: pandas, slow to import; only table models need it
    import pandas as pd

    frame = _frame_of(X, schema)
    names = schema.names
    got = [str(c) for c in frame.columns]
    missing = [n for n in names if n not in got]
    extra = [c for c in got if c not in names]
    if missing:
        raise SchemaError("columns", "missing column " + ", ".join(repr(m) for m in missing),
                          f"send every column of the schema: {', '.join(names)}")
    if extra:
        raise SchemaError("columns", "unexpected column " + ", ".join(repr(e) for e in extra),
                          f"the model takes only: {', '.join(names)}")
    frame = frame.rename(columns=str)[names]
    for col in schema.columns:
        _check_column_type(frame, col)
        if col.numeric and not pd.api.types.is_numeric_dtype(frame[col.name]):
            frame[col.name] = pd.to_numeric(frame[col.name])
    return frame.reset_index(drop=True)


def _to_channels_first(arr: np.ndarray, schema: InputSchema) -> np.ndarray:
    c, h, w = schema.shape
    if arr.shape[1:] == (h, w) and c == 1:
        return arr[:, None]
    if arr.shape[1:] == (c, h, w):
        return arr
    if arr.shape[1:] == (h, w, c):
        return np.moveaxis(arr, -1, 1)
    raise SchemaError("X", f"has per-sample shape {arr.shape[1:]}; the model takes "
                           f"{schema.describe()}",
                      f"send images of shape {schema.sample_shape}")


def as_images(X: Any, schema: InputSchema) -> np.ndarray:
    """Images as float32 ``(n, C, H, W)`` in ``[0, 1]``, from any of the three layouts.

    Integer images are divided by 255; float images above 1.5 are taken to be on 0..255 too.
    """
    arr = np.asarray(X)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise SchemaError("X", f"has dtype {arr.dtype}", "send numeric pixel values")
    if arr.ndim == len(schema.sample_shape):
        arr = arr[None]
    arr = _to_channels_first(arr, schema)
    out = arr.astype(np.float32)
    if arr.dtype.kind in "biu" or (out.size and float(np.nanmax(out)) > 1.5):
        out = out / np.float32(255.0)
    return np.ascontiguousarray(out)


def as_tensor(X: Any, schema: InputSchema) -> np.ndarray:
    """A float32 array ``(n, *shape)``; one sample is accepted without its batch axis."""
    arr = np.asarray(X, dtype=np.float32)
    if arr.shape == tuple(schema.shape):
        arr = arr[None]
    if arr.shape[1:] != tuple(schema.shape):
        raise SchemaError("X", f"has per-sample shape {arr.shape[1:]}",
                          f"send tensors of shape {tuple(schema.shape)}")
    return arr


def as_model_input(X: Any, schema: InputSchema) -> Any:
    """What a model of this schema takes: a DataFrame, ``(n, C, H, W)`` floats or a tensor."""
    if schema.kind == "table":
        return as_frame(X, schema)
    if schema.kind == "image":
        return as_images(X, schema)
    return as_tensor(X, schema)

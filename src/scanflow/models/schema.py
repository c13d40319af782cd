"""What a model takes: an :class:`InputSchema` — named, typed columns or an image / tensor shape.

A schema is what MLflow calls the input signature, in the three shapes Scanflow's loop handles:

* ``table``: named columns with a type each (``double``, ``long``, ``string``, ``boolean``...);
  samples travel as pandas DataFrames (or JSON records over HTTP) and are matched by name;
* ``image``: one image per sample, ``layout`` ``HW`` (grayscale), ``CHW`` or ``HWC``, of a fixed
  size; uint8 ``0..255`` or floats in ``[0, 1]``;
* ``tensor``: any other fixed per-sample shape (feature vectors without names, ...).

It converts to and from an MLflow :class:`~mlflow.models.ModelSignature` and to JSON, and checks
data against itself with errors that name the field and the fix.

Example:
    >>> import numpy as np, pandas as pd
    >>> s = InputSchema.from_data(pd.DataFrame({"alcohol": [13.2], "hue": [1.04]}))
    >>> s.kind, s.names
    ('table', ['alcohol', 'hue'])
    >>> InputSchema.from_data(np.zeros((5, 32, 32, 3), np.uint8)).describe()
    'images 32x32x3 (HWC)'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ScanflowError

__all__ = ["Column", "InputSchema", "SchemaError"]

KINDS = ("table", "image", "tensor")
LAYOUTS = ("HW", "CHW", "HWC")
_NUMERIC = {"double", "float", "long", "integer"}
_CHANNELS = (1, 3, 4)


class SchemaError(ScanflowError, ValueError):
    """Data that does not fit a model's input schema; ``field`` names the culprit."""

    def __init__(self, field: str, message: str, fix: str = ""):
        self.field, self.message, self.fix = field, message, fix
        super().__init__(f"{field}: {message}" + (f" ({fix})" if fix else ""))


@dataclass(frozen=True)
class Column:
    """One named input column and its MLflow type name (``double``, ``long``, ``string``...)."""

    name: str
    type: str = "double"

    @property
    def numeric(self) -> bool:
        return self.type in _NUMERIC


def _mlflow_type(dtype: Any) -> str:
    """The MLflow column type of a numpy / pandas dtype (anything else is a string)."""
    try:
        kind = np.dtype(dtype).kind
    except TypeError:  # pandas extension dtypes: string, category, nullable integers...
        name = str(dtype).lower()
        kind = "i" if name.startswith(("int", "uint")) else "f" if name.startswith("float") else (
            "b" if name == "boolean" else "O")
    return {"f": "double", "i": "long", "u": "long", "b": "boolean"}.get(kind, "string")


@dataclass(frozen=True)
class InputSchema:
    """The input a model expects (see the module docstring)."""

    kind: str
    columns: tuple[Column, ...] = ()
    shape: tuple[int, ...] = ()
    layout: str | None = None
    dtype: str = "float32"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SchemaError("kind", f"is {self.kind!r}", f"use one of {', '.join(KINDS)}")
        if self.kind == "image" and self.layout not in LAYOUTS:
            raise SchemaError("layout", f"is {self.layout!r} for an image schema",
                              f"use one of {', '.join(LAYOUTS)}")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def table(cls, columns: Sequence[str | tuple[str, str] | Column]) -> InputSchema:
        cols = []
        for c in columns:
            if isinstance(c, Column):
                cols.append(c)
            elif isinstance(c, str):
                cols.append(Column(c))
            else:
                cols.append(Column(str(c[0]), str(c[1])))
        names = [c.name for c in cols]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SchemaError("columns", f"repeat the names {dupes}", "give each column one name")
        return cls("table", columns=tuple(cols))

    @classmethod
    def image(cls, height: int, width: int, channels: int = 1, *, layout: str | None = None,
              dtype: str = "uint8") -> InputSchema:
        layout = layout or ("HW" if channels == 1 else "HWC")
        if layout == "HW" and channels != 1:
            raise SchemaError("layout", "'HW' holds one channel", "use 'CHW' or 'HWC'")
        return cls("image", shape=(int(channels), int(height), int(width)), layout=layout,
                   dtype=dtype)

    @classmethod
    def from_data(cls, X: Any) -> InputSchema:
        """The schema of a sample of data: a DataFrame → table; ``(n, d)`` → table ``x0..``;
        ``(n, H, W)``, ``(n, C, H, W)``, ``(n, H, W, C)`` (C in 1, 3, 4) → image."""
        if hasattr(X, "columns") and hasattr(X, "dtypes"):
            return cls.table([Column(str(c), _mlflow_type(t)) for c, t in X.dtypes.items()])
        arr = np.asarray(X)
        if arr.ndim == 2:
            return cls.table([Column(f"x{i}", _mlflow_type(arr.dtype)) for i in range(arr.shape[1])])
        dtype = "uint8" if arr.dtype == np.uint8 else "float32"
        if arr.ndim == 3:
            return cls.image(arr.shape[1], arr.shape[2], 1, layout="HW", dtype=dtype)
        if arr.ndim == 4 and arr.shape[1] in _CHANNELS and arr.shape[-1] not in _CHANNELS:
            return cls.image(arr.shape[2], arr.shape[3], arr.shape[1], layout="CHW", dtype=dtype)
        if arr.ndim == 4 and arr.shape[-1] in _CHANNELS:
            return cls.image(arr.shape[1], arr.shape[2], arr.shape[3], layout="HWC", dtype=dtype)
        if arr.ndim >= 2:
            return cls("tensor", shape=tuple(arr.shape[1:]), dtype=str(arr.dtype))
        raise SchemaError("X", f"has shape {arr.shape}", "pass (n_samples, ...) data")

    # ------------------------------------------------------------------ views
    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def channels(self) -> int:
        return self.shape[0] if self.kind == "image" else 0

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one sample as data arrives (image layout applied)."""
        if self.kind == "table":
            return (len(self.columns),)
        if self.kind == "tensor":
            return self.shape
        c, h, w = self.shape
        return {"HW": (h, w), "CHW": (c, h, w), "HWC": (h, w, c)}[self.layout or "HW"]

    def describe(self) -> str:
        if self.kind == "table":
            return f"table of {len(self.columns)} columns ({', '.join(self.names[:6])}" + (
                ", ...)" if len(self.columns) > 6 else ")")
        if self.kind == "image":
            return f"images {'x'.join(str(s) for s in self.sample_shape)} ({self.layout})"
        return f"tensors of shape {self.shape}"

    # ------------------------------------------------------------------ JSON / MLflow
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "dtype": self.dtype}
        if self.kind == "table":
            out["columns"] = [{"name": c.name, "type": c.type} for c in self.columns]
        else:
            out["shape"] = list(self.shape)
        if self.layout:
            out["layout"] = self.layout
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InputSchema:
        if d.get("kind") == "table":
            return cls.table([Column(c["name"], c.get("type", "double")) for c in d["columns"]])
        return cls(d["kind"], shape=tuple(int(s) for s in d["shape"]), layout=d.get("layout"),
                   dtype=d.get("dtype", "float32"))

    def to_signature(self, output: Any = None):
        """An MLflow ``ModelSignature`` (``output``: an example of the model's output)."""
        # lazy: mlflow (importing scanflow.models must not load it)
        from mlflow.models import ModelSignature
        from mlflow.types import (  # lazy: as above
            ColSpec,
            ParamSchema,
            ParamSpec,
            Schema,
            TensorSpec,
        )
        from mlflow.types.utils import _infer_schema  # lazy: as above

        if self.kind == "table":
            inputs = Schema([ColSpec(c.type, c.name) for c in self.columns])
        else:  # uint8 images stay uint8 (MLflow's server casts JSON numbers to it)
            inputs = Schema([TensorSpec(np.dtype(self.dtype), (-1, *self.sample_shape))])
        outputs = _infer_schema(output) if output is not None else None
        # predict(X, params={"output": "proba"}) gives class probabilities instead of labels
        params = ParamSchema([ParamSpec("output", "string", "label")])
        return ModelSignature(inputs=inputs, outputs=outputs, params=params)

    @classmethod
    def from_signature(cls, signature: Any) -> InputSchema | None:
        """The schema of an MLflow signature (None when it has no input schema)."""
        inputs = getattr(signature, "inputs", None)
        if inputs is None:
            return None
        if not inputs.is_tensor_spec():
            return cls.table([Column(str(s.name), str(s.type).lower().split(".")[-1])
                              for s in inputs.inputs])
        spec = inputs.inputs[0]
        shape = tuple(int(s) for s in spec.shape[1:])
        probe = np.zeros((1, *shape), dtype=np.uint8) if all(s > 0 for s in shape) else None
        if probe is not None and probe.ndim in (3, 4):
            try:
                return cls.from_data(probe)
            except SchemaError:
                pass
        return cls("tensor", shape=shape, dtype=str(spec.type))

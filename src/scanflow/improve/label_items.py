"""What the label queue holds: :class:`Item` (one sample and its state), the errors, and how
samples and classes are stored (numeric arrays as raw bytes, records as JSON, never pickle).

The store itself is :class:`scanflow.improve.labels.LabelStore`; everything here is plain
Python over rows and values, re-exported from :mod:`scanflow.improve.labels`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from scanflow.errors import ScanflowError

__all__ = [
    "HUMAN",
    "LABELED",
    "LABELER_KINDS",
    "ORACLE",
    "PENDING",
    "RECORD_DTYPE",
    "RESERVED_META",
    "SKIPPED",
    "Item",
    "LabelConflictError",
    "LabelError",
    "UnknownItemError",
    "class_keys",
    "class_names",
    "format_value",
]

HUMAN = "human"
ORACLE = "oracle"
LABELER_KINDS = (HUMAN, ORACLE)

PENDING, LABELED, SKIPPED = "pending", "labeled", "skipped"

# Sample dtypes we store. Anything else (object, strings, complex) is refused at enqueue.
_ALLOWED_KINDS = "uif"  # unsigned int, signed int, float
# The dtype of a record row: its data is UTF-8 JSON, not an array (np.dtype("json") fails, so
# an array can never be mistaken for a record).
RECORD_DTYPE = "json"
# Keys of ``meta`` the store itself interprets (the UI does not list them as metadata).
RESERVED_META = ("columns", "classes")
_CHANNELS = (1, 3, 4)

class LabelError(ScanflowError, ValueError):
    """A request the label store refuses; ``field`` names the culprit, ``fix`` says what to do.

    ``status_code`` is the HTTP status the web API answers with.
    """

    status_code = 422

    def __init__(self, field: str, message: str, fix: str = ""):
        self.field = field
        self.message = message
        self.fix = fix
        text = f"{field}: {message}"
        super().__init__(f"{text} ({fix})" if fix else text)

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "fix": self.fix}


class UnknownItemError(LabelError, LookupError):
    """No sample has this id."""

    status_code = 404


class LabelConflictError(LabelError):
    """The sample is held or was labeled by another labeler."""

    status_code = 409


@dataclass(frozen=True)
class Item:
    """One sample of the queue and its current state (a snapshot; the store is the truth)."""

    id: int
    batch: str
    position: int
    status: str
    shape: tuple[int, ...]
    dtype: str
    data: bytes = field(repr=False)
    meta: dict[str, Any]
    model_guess: int | None
    score: float | None
    label: int | None
    labeler: str | None
    labeler_kind: str | None
    labeled_at: datetime | None
    claimed_by: str | None
    lease_until: datetime | None
    created_at: datetime

    # ------------------------------------------------------------------ the sample
    @property
    def is_record(self) -> bool:
        """True for a record row (named columns, JSON values); see :attr:`record`."""
        return self.dtype == RECORD_DTYPE

    @property
    def record(self) -> dict[str, Any]:
        """A record row as ``{column: value}``, in column order."""
        if not self.is_record:
            raise LabelError(
                "record",
                f"sample {self.id} is a numeric array of shape {self.shape}, not a record",
                "read it with item.x",
            )
        columns, values = _decode_record(self.data)
        return dict(zip(columns, values, strict=True))

    @property
    def x(self) -> np.ndarray:
        """The sample as a numpy array with its original shape and dtype (read-only).

        For a record: its values in column order, float64 when every value is a number (None
        becomes NaN), an object array otherwise.
        """
        if self.is_record:
            values = _decode_record(self.data)[1]
            numeric = all(v is None or isinstance(v, int | float) for v in values)
            if numeric:
                return np.array([np.nan if v is None else v for v in values], np.float64)
            return np.array(values, dtype=object)
        return np.frombuffer(self.data, dtype=np.dtype(self.dtype)).reshape(self.shape)

    @property
    def image_layout(self) -> str | None:
        """``"HW"``, ``"HWC"`` or ``"CHW"`` (C in 1, 3, 4) for an image; None otherwise."""
        return None if self.is_record else _image_layout(self.shape)

    @property
    def is_image(self) -> bool:
        """True for a 2-D sample (H, W) or an image with channels (H, W, C) or (C, H, W)."""
        return self.image_layout is not None

    @property
    def image(self) -> np.ndarray:
        """The image as (H, W) or (H, W, 3|4), the way a PNG or a terminal shows it."""
        layout = self.image_layout
        if layout is None:
            raise LabelError(
                "image",
                f"sample {self.id} of shape {self.shape} is not an image",
                "read it with item.x or item.record",
            )
        a = self.x if layout != "CHW" else np.moveaxis(self.x, 0, -1)
        return a[..., 0] if a.ndim == 3 and a.shape[-1] == 1 else a

    @property
    def columns(self) -> list[str]:
        """Column names: a record's own; for an array ``meta["columns"]``, else ``x0, x1...``."""
        if self.is_record:
            return _decode_record(self.data)[0]
        cols = self.meta.get("columns")
        n = int(np.prod(self.shape)) if self.shape else 1
        if isinstance(cols, list) and len(cols) == n:
            return [str(c) for c in cols]
        return [f"x{i}" for i in range(n)]

    @property
    def values(self) -> list[Any]:
        """A row's values in column order: JSON values for a record, floats for an array."""
        if self.is_record:
            return _decode_record(self.data)[1]
        return [float(v) for v in np.asarray(self.x, dtype=np.float64).ravel()]

    # ------------------------------------------------------------------ classes
    @property
    def classes(self) -> list[Any] | None:
        """The model's class labels recorded with the sample (position → label), or None."""
        classes = self.meta.get("classes")
        return list(classes) if isinstance(classes, list) else None

    def class_label(self, position: int | None = None) -> Any:
        """The class label at ``position`` (default: the stored label); the position itself
        when no classes were recorded; None for no position."""
        position = self.label if position is None else position
        if position is None:
            return None
        classes = self.classes
        return int(position) if classes is None else classes[int(position)]

def _now_dt(clock: Callable[[], float]) -> datetime:
    # Naive UTC: SQLite keeps no time zone, and naive values compare the same on both databases.
    return datetime.fromtimestamp(clock(), tz=UTC).replace(tzinfo=None)


def _check_name(field_name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LabelError(
            field_name,
            f"must be a non-empty string, got {value!r}",
            "pass who is labeling, e.g. labeler='ana'",
        )
    value = value.strip()
    if len(value) > 100:
        raise LabelError(field_name, f"is {len(value)} characters long", "use at most 100")
    return value

def _parse_shape(text: str) -> tuple[int, ...]:
    return tuple(int(s) for s in text.split(",") if s)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _row_to_item(row: Any) -> Item:
    return Item(
        id=int(row["id"]),
        batch=row["batch"],
        position=int(row["position"]),
        status=row["status"],
        shape=_parse_shape(row["shape"]),
        dtype=row["dtype"],
        data=bytes(row["data"]),
        meta=json.loads(row["meta"]),
        model_guess=row["model_guess"],
        score=row["score"],
        label=row["label"],
        labeler=row["labeler"],
        labeler_kind=row["labeler_kind"],
        labeled_at=row["labeled_at"],
        claimed_by=row["claimed_by"],
        lease_until=row["lease_until"],
        created_at=row["created_at"],
    )


# ----------------------------------------------------------------------------- samples
def _image_layout(shape: tuple[int, ...]) -> str | None:
    if len(shape) == 2:
        return "HW"
    if len(shape) == 3 and shape[-1] in _CHANNELS:
        return "HWC"
    if len(shape) == 3 and shape[0] in _CHANNELS:
        return "CHW"
    return None


def _is_table(samples: Any) -> bool:
    """A pandas DataFrame, or a non-empty list of dict records."""
    if hasattr(samples, "columns") and hasattr(samples, "itertuples"):
        return True
    return (
        isinstance(samples, list | tuple)
        and len(samples) > 0
        and all(isinstance(r, Mapping) for r in samples)
    )


def _table_rows(samples: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names (in order) and raw value tuples of a DataFrame or of dict records."""
    if hasattr(samples, "itertuples"):
        columns = [str(c) for c in samples.columns]
        rows = list(samples.itertuples(index=False, name=None))
    else:
        seen: dict[Any, None] = {}
        for rec in samples:  # the union of the keys, in the order they first appear
            seen.update(dict.fromkeys(rec))
        keys = list(seen)
        columns = [str(k) for k in keys]
        rows = [tuple(rec.get(k) for k in keys) for rec in samples]
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise LabelError(
            "samples", f"has the columns {dupes} more than once", "give each column one name"
        )
    return columns, rows


def _json_value(value: Any, where: str) -> Any:
    """A cell as a JSON value: number, string, boolean or None (NaN and NA become None)."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        if math.isnan(f):
            return None
        if math.isinf(f):
            raise LabelError(
                where, f"is {f}, which JSON cannot hold", "replace infinities with a number or None"
            )
        return f
    if isinstance(value, str):
        return str(value)
    raise LabelError(
        where,
        f"is a {type(value).__name__} ({value!r:.60}); a record holds numbers, strings, "
        "booleans and None",
        "convert the column first, e.g. df[col].astype(str) or pd.to_numeric(df[col])",
    )


def _encode_records(samples: Any) -> list[tuple[str, str, bytes]]:
    """``(shape, dtype, data)`` per row of a table: JSON columns and values, never pickle."""
    columns, rows = _table_rows(samples)
    out = []
    for i, row in enumerate(rows):
        values = [_json_value(v, f"samples[{i}][{c!r}]") for c, v in zip(columns, row, strict=True)]
        text = json.dumps({"columns": columns, "values": values}, allow_nan=False)
        out.append((str(len(columns)), RECORD_DTYPE, text.encode("utf-8")))
    return out


def _decode_record(data: bytes) -> tuple[list[str], list[Any]]:
    doc = json.loads(bytes(data).decode("utf-8"))
    return list(doc["columns"]), list(doc["values"])


def _encode_arrays(samples: Any) -> list[tuple[str, str, bytes]]:
    """``(shape, dtype, data)`` per first-axis entry of a numeric array: raw bytes."""
    arr = np.asarray(samples)
    if arr.dtype.kind not in _ALLOWED_KINDS:
        raise LabelError(
            "samples",
            f"has dtype {arr.dtype}, which cannot be stored as an array",
            "pass numeric images or rows; pass a pandas DataFrame for rows with text columns",
        )
    if arr.ndim < 2:
        raise LabelError(
            "samples",
            f"has shape {arr.shape}; expected (n_samples, ...)",
            "wrap a single sample as samples[None]",
        )
    dtype = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
    arr = np.ascontiguousarray(arr, dtype=dtype)
    shape = ",".join(str(s) for s in arr.shape[1:])
    return [(shape, dtype.str, arr[i].tobytes()) for i in range(arr.shape[0])]


# ----------------------------------------------------------------------------- classes
def _check_classes(classes: Any, where: str = "classes") -> list[Any] | None:
    """The class labels as a list of JSON scalars (at least two, all different), or None."""
    if classes is None:
        return None
    if isinstance(classes, str | bytes) or not hasattr(classes, "__iter__"):
        raise LabelError(
            where, f"must be a list of class labels, got {classes!r:.60}", "pass model.classes_"
        )
    out = []
    for i, c in enumerate(classes):
        value = _json_value(c, f"{where}[{i}]")
        if value is None:
            raise LabelError(f"{where}[{i}]", "is missing", "give every class a label")
        out.append(value)
    if len(out) < 2:
        raise LabelError(where, f"has {len(out)} class labels", "give at least two classes")
    dupes = sorted({str(c) for c in out if out.count(c) > 1})
    if dupes:
        raise LabelError(where, f"repeats {dupes}", "give each class one label")
    return out


def _classes_text(classes: list[Any] | None, n_classes: int) -> str:
    """``0..n-1`` or ``0=cat, 1=dog`` for error messages (the first ten)."""
    if classes is None:
        return f"0..{n_classes - 1}"
    shown = ", ".join(f"{i}={c}" for i, c in enumerate(classes[:10]))
    return f"0..{len(classes) - 1} ({shown}{', ...' if len(classes) > 10 else ''})"


def class_keys(names: Sequence[Any]) -> list[str | None]:
    """The keyboard key of each class in a labeling UI (None: no key).

    Classes named ``0, 1, 2, ...`` (digits) keep their own digit; any other classes get
    ``1``-``9`` then ``0`` for the first ten, in order.

    >>> class_keys(range(10))[:3], class_keys(["cat", "dog"])
    (['0', '1', '2'], ['1', '2'])
    """
    names = [str(n) for n in names]
    if all(name == str(i) for i, name in enumerate(names[:10])):
        return [str(i) if i < 10 else None for i in range(len(names))]
    return [str((i + 1) % 10) if i < 10 else None for i in range(len(names))]


def class_names(classes: Sequence[Any]) -> list[str]:
    """Class labels as a labeler reads them (see :func:`format_value`).

    >>> class_names(["brickface", 1, 2.0])
    ['brickface', '1', '2']
    """
    return [format_value(c) for c in classes]


def format_value(value: Any) -> str:
    """A cell as a labeler reads it: strings as they are, whole numbers in full, other numbers
    to 6 significant digits, None as a dash.

    >>> [format_value(v) for v in ("north", 13.2, 1065.0, 2/7, 3e-8, None, True, 1234567.0)]
    ['north', '13.2', '1065', '0.285714', '3e-08', '—', 'true', '1234567']
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        f = float(value)
        # Whole numbers in full, as JavaScript shows them (it cannot tell 2.0 from 2).
        return str(int(f)) if f.is_integer() and abs(f) < 1e15 else f"{f:.6g}"
    return str(value)


def _check_label_type(label: Any, classes: list[Any] | None, n: int) -> None:
    if isinstance(label, bool) or not isinstance(label, int | np.integer):
        raise LabelError(
            "label",
            f"must be an integer, got {label!r}",
            f"pass a class position in {_classes_text(classes, n)}",
        )


def _item_id(item_id: Any) -> int:
    try:
        return int(item_id)
    except (TypeError, ValueError):
        raise LabelError("item_id", f"must be an integer, got {item_id!r}") from None


def _unknown_item(item_id: Any) -> UnknownItemError:
    return UnknownItemError(
        "item_id",
        f"no sample has id {item_id}",
        "ask for the next sample with claim() or GET /api/next",
    )


def _meta_json(meta: dict[str, Any], i: int) -> str:
    try:
        return json.dumps(meta, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise LabelError(f"meta[{i}]", f"is not JSON-serialisable: {exc}") from exc


def _records_frame(datas: Sequence[bytes], columns: list[str] | None = None) -> Any:
    """A DataFrame of record rows; columns in order of first appearance."""
    # lazy: pandas, slow to import; only table items need it
    import pandas as pd

    records, order = [], dict.fromkeys(columns or [])
    for data in datas:
        cols, values = _decode_record(data)
        order.update(dict.fromkeys(cols))
        records.append(dict(zip(cols, values, strict=True)))
    return pd.DataFrame.from_records(records, columns=list(order))

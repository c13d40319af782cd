"""What a prediction request carries, checked against the served model's input schema.

Two forms, chosen by the model (``GET /model`` says which):

* **table rows** — ``record`` / ``records``: JSON objects, one field per column of the model's
  signature, matched by name. A missing, extra or mistyped field is a 422 whose ``loc`` names
  it (``["body", "records", 3, "alcohol"]``) and whose message says the fix.
* **images** — ``image`` / ``images``: nested lists of integers ``0..255`` in the layout the
  model declares (``HW``, ``CHW`` or ``HWC``); ``image_b64`` / ``images_b64``: base64 of the raw
  ``uint8`` bytes in row-major order of that layout. A wrong shape is a 422 naming the expected
  shape.

Errors use FastAPI's own format (``{"detail": [{"loc", "msg", "type"}]}``)::

    >>> from scanflow.models import InputSchema
    >>> decode_image([[0, 255], [7, 8]], shape=(2, 2), loc=("body", "image")).dtype.name
    'uint8'
    >>> wine = InputSchema.table(["alcohol", "hue"])
    >>> decode_records([{"hue": 1.0, "alcohol": 13.2}], wine, loc=("body", "records")).columns.tolist()
    ['alcohol', 'hue']
    >>> try:
    ...     decode_records([{"alcohol": "strong", "hue": 1.0}], wine, loc=("body", "records"))
    ... except Exception as exc:
    ...     print(exc.errors()[0]["loc"], exc.errors()[0]["msg"])
    ('body', 'records', 0, 'alcohol') holds 'strong', not a number (double); send a number for 'alcohol'
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from fastapi.exceptions import RequestValidationError

from scanflow.models import InputSchema, SchemaError, as_frame

from .schemas import Loc, input_error

__all__ = ["NUMBER_TEXT", "decode_batch", "decode_image", "decode_records", "how_to_send", "model_takes",
           "request_inputs"]

_LAYOUT_WORDS = {"HW": "height, width", "CHW": "channels, height, width",
                 "HWC": "height, width, channels"}


def _shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


# -- images ------------------------------------------------------------------------------------
def _holds_a_boolean(value: Any) -> bool:
    """Whether nested lists hold a JSON ``true``/``false`` (numpy would read it as 1/0)."""
    if isinstance(value, list):
        if value and isinstance(value[0], list):
            return any(_holds_a_boolean(v) for v in value)
        return bool in map(type, value)
    return isinstance(value, bool)


def _expected(shape: tuple[int, ...], layout: str | None) -> str:
    return f"expected shape {_shape_text(shape)}" + (
        f" ({layout}: {_LAYOUT_WORDS[layout]})" if layout in _LAYOUT_WORDS else "")


def decode_image(value: Any, *, shape: Sequence[int], loc: Loc, layout: str | None = None) -> np.ndarray:
    """One image from nested lists or base64 to a ``uint8`` array of ``shape``; 422 otherwise."""
    shape = tuple(int(s) for s in shape)
    if isinstance(value, str):  # the hot path of /predict: no work beyond the checks
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise input_error(loc, f"not valid base64 ({exc}); send base64 of the raw uint8 bytes") from exc
        if base64.b64encode(raw) != value.encode("ascii"):  # what the OpenAPI pattern says, exactly
            raise input_error(loc, "not canonical base64 (extra padding, or non-zero bits before "
                                   "'='); send standard base64 (RFC 4648) of the raw uint8 bytes")
        size = math.prod(shape)
        if len(raw) != size:
            raise input_error(loc, f"decodes to {len(raw)} bytes; {_expected(shape, layout)} = {size} "
                                   "uint8 bytes in row-major order", "value_error.shape")
        return np.frombuffer(raw, dtype=np.uint8).reshape(shape).copy()
    expected = _expected(shape, layout)
    try:
        arr = np.asarray(value)
    except ValueError as exc:  # ragged nested lists
        raise input_error(loc, f"ragged nested lists; {expected}", "value_error.shape") from exc
    if arr.dtype == object or arr.shape != shape:
        got = "ragged lists" if arr.dtype == object else f"shape {_shape_text(arr.shape)}"
        raise input_error(loc, f"{expected}, got {got}", "value_error.shape")
    if arr.dtype.kind == "b" or _holds_a_boolean(value):
        raise input_error(loc, "expected integers 0..255, got true/false; send pixel values as "
                               "integers", "value_error.dtype")
    if arr.size and arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.mod(arr, 1) == 0):
            arr = arr.astype(np.int64)
        else:
            raise input_error(loc, f"expected integers 0..255, got dtype {arr.dtype}", "value_error.dtype")
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise input_error(
            loc, f"pixel values must be in 0..255, got {arr.min()}..{arr.max()}", "value_error.range"
        )
    return arr.astype(np.uint8)


def _check_batch_size(n: int, *, field: str, max_batch: int | None, what: str) -> None:
    if n == 0:
        raise input_error(("body", field), f"the batch is empty; send at least one {what}")
    if max_batch is not None and n > max_batch:
        raise input_error(("body", field), f"{n} {what}s exceed the limit of {max_batch} per "
                                           "request; split the batch")


def decode_batch(values: Sequence[Any], *, shape: Sequence[int], field: str,
                 max_batch: int | None = None, layout: str | None = None) -> np.ndarray:
    """A list of images (nested lists or base64 strings) as one ``(n, *shape)`` uint8 array."""
    _check_batch_size(len(values), field=field, max_batch=max_batch, what="image")
    shape = tuple(int(s) for s in shape)
    if not isinstance(values[0], str):
        # Fast path: one conversion for the whole batch when it is well-formed.
        try:
            arr = np.asarray(values)
        except ValueError:
            arr = None
        if (
            arr is not None
            and arr.shape == (len(values), *shape)
            and arr.dtype.kind in "iu"
            and (arr.size == 0 or (arr.min() >= 0 and arr.max() <= 255))
            and not _holds_a_boolean(values)
        ):
            return arr.astype(np.uint8)
    out = np.empty((len(values), *shape), dtype=np.uint8)
    for i, value in enumerate(values):
        out[i] = decode_image(value, shape=shape, loc=("body", field, i), layout=layout)
    return out


# -- table rows ------------------------------------------------------------------------------
def _schema_error(exc: SchemaError, loc: Loc, kind: str) -> RequestValidationError:
    return input_error(loc, f"{exc.message}; {exc.fix}" if exc.fix else exc.message, kind)


#: A number written as text, as a numeric column also takes it (the OpenAPI document says so too).
NUMBER_TEXT = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def _number_like(value: Any) -> bool:
    if isinstance(value, bool):  # JSON true/false is not a number
        return False
    if value is None or isinstance(value, (int, float)):
        return True
    return isinstance(value, str) and re.fullmatch(NUMBER_TEXT, value) is not None


def _value_problem(value: Any, column: Any) -> SchemaError | None:
    """What is wrong with one field's value for its column (None: nothing)."""
    if value is None:
        return None
    if column.numeric and not _number_like(value):
        return SchemaError(column.name, f"holds {value!r}, not a number ({column.type})",
                           f"send a number for {column.name!r}")
    if column.type == "string" and not isinstance(value, str):
        return SchemaError(column.name, f"holds {value!r}, not text (string)",
                           f"send a string for {column.name!r}")
    if column.type == "boolean" and not isinstance(value, bool):
        return SchemaError(column.name, f"holds {value!r}, not a boolean",
                           f"send true or false for {column.name!r}")
    return None


def _check_record(record: Mapping[str, Any], schema: InputSchema, loc: Loc) -> None:
    """A 422 naming the first missing, extra or mistyped field of one record."""
    names = schema.names
    for name in names:
        if name not in record:
            raise _schema_error(SchemaError(name, f"missing field {name!r}",
                                            f"send every column the model takes: {', '.join(names)}"),
                                (*loc, name), "missing")
    known = set(names)
    for key in record:
        if key not in known:
            raise _schema_error(SchemaError(key, f"unexpected field {key!r}",
                                            f"the model takes only: {', '.join(names)}"),
                                (*loc, key), "extra_forbidden")
    for column in schema.columns:
        problem = _value_problem(record[column.name], column)
        if problem is not None:
            raise _schema_error(problem, (*loc, column.name), "type_error")


def decode_records(records: Sequence[Mapping[str, Any]], schema: InputSchema, *, loc: Loc,
                   indexed: bool = True, max_batch: int | None = None):
    """Table rows as a DataFrame with the schema's columns in its order (numeric columns numeric).

    ``loc`` is where the rows are in the request; ``indexed``: each row's position is part of an
    error's ``loc`` (a batch), else the row is the field itself (one ``record``).
    """
    if indexed:
        _check_batch_size(len(records), field=str(loc[-1]), max_batch=max_batch, what="record")
    for i, record in enumerate(records):
        _check_record(record, schema, (*loc, i) if indexed else loc)
    try:
        return as_frame(list(records), schema)
    except SchemaError as exc:  # what the checks above missed, named as as_frame names it
        raise _schema_error(exc, (*loc, exc.field), "value_error") from None


# -- the request as a whole ------------------------------------------------------------------
def model_takes(schema: InputSchema) -> str:
    """What a model of this schema takes, in words: 'a table of 13 columns (...)', 'images ...'."""
    return ("a " if schema.kind == "table" else "") + schema.describe()


def _wanted(schema: InputSchema, batch: bool) -> str:
    """How to send input to this model, in words."""
    if schema.kind == "table":
        field = "'records': [{column: value, ...}, ...]" if batch else "'record': {column: value, ...}"
        return f"send {field} (GET /model lists the columns)"
    if schema.kind == "image":
        size = int(np.prod(schema.sample_shape))
        lists, b64 = ("images", "images_b64") if batch else ("image", "image_b64")
        return (f"send {lists!r} (nested lists of shape {_shape_text(schema.sample_shape)}, "
                f"{schema.layout}) or {b64!r} (base64 of {size} raw uint8 bytes)")
    return "tensor models are not served over HTTP yet; call the model from Python"


def how_to_send(schema: InputSchema) -> str:
    """How a client sends input to this model (what ``GET /model`` tells it)."""
    if schema.kind not in ("table", "image"):
        return _wanted(schema, batch=False)
    return (f"POST /predict: {_wanted(schema, batch=False).removeprefix('send ')}; "
            f"POST /predict/batch: {_wanted(schema, batch=True).removeprefix('send ')}")


def _fields(kind: str, batch: bool) -> tuple[str, ...]:
    if kind == "table":
        return ("records",) if batch else ("record",)
    return ("images", "images_b64") if batch else ("image", "image_b64")


def request_inputs(req: Any, schema: InputSchema, *, batch: bool,
                   max_batch: int | None = None) -> tuple[Any, str]:
    """The model input in ``req`` (a DataFrame or a uint8 array) and the field it came from."""
    mine = _fields(schema.kind, batch)
    for kind in ("table", "image"):
        for field in _fields(kind, batch):
            if field not in mine and getattr(req, field, None) is not None:
                raise input_error(("body", field), f"this model takes {model_takes(schema)}, not "
                                                   f"{'table rows' if kind == 'table' else 'images'}: "
                                                   f"{_wanted(schema, batch)}", "value_error.kind")
    given = [f for f in mine if getattr(req, f, None) is not None]
    if schema.kind not in ("table", "image") or len(given) != 1:
        listed = f"exactly one of {' or '.join(repr(f) for f in mine)}" if len(mine) > 1 else repr(mine[0])
        raise input_error(("body", mine[0]), f"send {listed}, got {' and '.join(given) or 'nothing'}; "
                          f"this model takes {model_takes(schema)}: {_wanted(schema, batch)}")
    field = given[0]
    value = getattr(req, field)
    if schema.kind == "table":
        rows = value if batch else [value]
        return decode_records(rows, schema, loc=("body", field), indexed=batch,
                              max_batch=max_batch), field
    if batch:
        return decode_batch(value, shape=schema.sample_shape, field=field, max_batch=max_batch,
                            layout=schema.layout), field
    image = decode_image(value, shape=schema.sample_shape, loc=("body", field), layout=schema.layout)
    return image[None], field

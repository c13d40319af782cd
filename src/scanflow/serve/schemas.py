"""Request and response models of the prediction API, and the decoding of images in requests.

Images travel as JSON, either as nested lists of integers in ``0..255`` (``image``/``images``)
or as base64 of the raw ``uint8`` bytes in row-major order (``image_b64``/``images_b64``).
A wrong shape, a value out of range or bad base64 is answered with a 422 whose ``loc`` names the
field (``["body", "images", 3]``) and whose message gives the expected shape, the same format
FastAPI uses for its own validation errors::

    >>> decode_image([[0, 255], [7, 8]], shape=(2, 2), loc=("body", "image")).dtype.name
    'uint8'
    >>> import base64
    >>> decode_image(base64.b64encode(bytes(4)).decode(), shape=(2, 2), loc=("body", "image_b64")).shape
    (2, 2)
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import numpy as np
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

Loc = tuple[str | int, ...]

__all__ = [
    "BatchPredictRequest",
    "BatchPredictResponse",
    "ExecutorRunResponse",
    "ModelInfo",
    "OutlierFlag",
    "Prediction",
    "PredictRequest",
    "PredictResponse",
    "decode_batch",
    "decode_image",
    "input_error",
]


def input_error(loc: Loc, msg: str, kind: str = "value_error") -> RequestValidationError:
    """A 422 error naming the field ``loc`` (FastAPI's own error format)."""
    return RequestValidationError([{"loc": tuple(loc), "msg": msg, "type": kind}])


def _shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def decode_image(value: Any, *, shape: Sequence[int], loc: Loc) -> np.ndarray:
    """One image from nested lists or base64 to a ``uint8`` array of ``shape``; 422 otherwise."""
    shape = tuple(int(s) for s in shape)
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise input_error(loc, f"not valid base64 ({exc}); send base64 of the raw uint8 bytes") from exc
        expected = int(np.prod(shape))
        if len(raw) != expected:
            raise input_error(
                loc,
                f"decodes to {len(raw)} bytes; expected shape {_shape_text(shape)} "
                f"= {expected} uint8 bytes in row-major order",
                "value_error.shape",
            )
        return np.frombuffer(raw, dtype=np.uint8).reshape(shape).copy()
    try:
        arr = np.asarray(value)
    except ValueError as exc:  # ragged nested lists
        raise input_error(
            loc, f"ragged nested lists; expected shape {_shape_text(shape)}", "value_error.shape"
        ) from exc
    if arr.dtype == object or arr.shape != shape:
        got = "ragged lists" if arr.dtype == object else f"shape {_shape_text(arr.shape)}"
        raise input_error(loc, f"expected shape {_shape_text(shape)}, got {got}", "value_error.shape")
    if arr.size and arr.dtype.kind not in "iub":
        if arr.dtype.kind == "f" and np.all(np.mod(arr, 1) == 0):
            arr = arr.astype(np.int64)
        else:
            raise input_error(loc, f"expected integers 0..255, got dtype {arr.dtype}", "value_error.dtype")
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise input_error(
            loc, f"pixel values must be in 0..255, got {arr.min()}..{arr.max()}", "value_error.range"
        )
    return arr.astype(np.uint8)


def decode_batch(values: Sequence[Any], *, shape: Sequence[int], field: str, max_batch: int) -> np.ndarray:
    """A list of images (nested lists or base64 strings) as one ``(n, *shape)`` uint8 array."""
    if len(values) == 0:
        raise input_error(("body", field), "the batch is empty; send at least one image")
    if len(values) > max_batch:
        raise input_error(
            ("body", field),
            f"{len(values)} images exceed the limit of {max_batch} per request; split the batch",
        )
    if not isinstance(values[0], str):
        # Fast path: one conversion for the whole batch when it is well-formed.
        try:
            arr = np.asarray(values)
        except ValueError:
            arr = None
        if (
            arr is not None
            and arr.shape == (len(values), *tuple(shape))
            and arr.dtype.kind in "iu"
            and (arr.size == 0 or (arr.min() >= 0 and arr.max() <= 255))
        ):
            return arr.astype(np.uint8)
    out = np.empty((len(values), *tuple(shape)), dtype=np.uint8)
    for i, value in enumerate(values):
        out[i] = decode_image(value, shape=shape, loc=("body", field, i))
    return out


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class PredictRequest(_Model):
    """One image: ``image`` (nested lists of 0..255) or ``image_b64`` (base64 of raw uint8)."""

    image: list[list[int]] | None = Field(
        default=None, description="rows of pixel values 0..255, e.g. 28 rows of 28 for MNIST"
    )
    image_b64: str | None = Field(
        default=None, description="base64 of the raw uint8 pixels in row-major order"
    )
    id: str | None = Field(default=None, description="your identifier, echoed in the response")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"image_b64": base64.b64encode(bytes(784)).decode()}]},
    )


class BatchPredictRequest(_Model):
    """Several images: ``images`` (nested lists) or ``images_b64`` (base64 strings)."""

    images: list[list[list[int]]] | None = Field(default=None, description="a list of images")
    images_b64: list[str] | None = Field(default=None, description="a list of base64 images")
    ids: list[str] | None = Field(default=None, description="one identifier per image")


class OutlierFlag(_Model):
    """The inline check of one input against the detector's calibrated threshold."""

    is_outlier: bool
    score: float
    threshold: float


class ModelInfo(_Model):
    name: str
    version: str | None = None
    alias: str | None = None
    loaded_at: float | None = None


class Prediction(_Model):
    id: str | None = None
    prediction_id: int | None = Field(
        default=None, description="the row of the prediction log (when the service keeps one)"
    )
    label: int = Field(description="the predicted class")
    confidence: float = Field(description="probability of the predicted class")
    probabilities: list[float]
    outlier: OutlierFlag | None = Field(
        default=None, description="absent when the service runs without a checker"
    )


class PredictResponse(Prediction):
    model: ModelInfo
    request_id: int | None = Field(
        default=None, description="position of this input in the stream the service has seen"
    )


class BatchPredictResponse(_Model):
    predictions: list[Prediction]
    model: ModelInfo
    n_outliers: int | None = None
    request_id: int | None = None


class ExecutorRunResponse(_Model):
    workflow: str
    node: str
    run_id: str | None = None
    status: str
    error: str | None = None

"""Request and response models of the prediction API (pydantic: they are its OpenAPI at ``/docs``).

A request carries what the served model takes (``GET /model`` says which):

* a table row, ``{"record": {"alcohol": 13.2, ...}}``, or rows, ``{"records": [{...}, ...]}``;
* an image as nested lists of ``0..255`` in the model's layout (``image`` / ``images``), or as
  base64 of its raw ``uint8`` bytes (``image_b64`` / ``images_b64``).

Their checks against the model's input schema are in :mod:`scanflow.serve.inputs`; a bad
request is answered with a 422 in FastAPI's own format, built by :func:`input_error`::

    >>> input_error(("body", "records", 3, "alcohol"), "missing field 'alcohol'").errors()[0]["loc"]
    ('body', 'records', 3, 'alcohol')
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from .drift_monitor import WindowResult

Loc = tuple[str | int, ...]

__all__ = [
    "BatchPredictRequest",
    "BatchPredictResponse",
    "DriftOut",
    "ExecutorOut",
    "ExecutorRunResponse",
    "HealthOut",
    "InputInfo",
    "ModelDetails",
    "ModelInfo",
    "ModelStatus",
    "OutlierFlag",
    "Prediction",
    "PredictRequest",
    "PredictResponse",
    "ReloadOut",
    "RunStatusOut",
    "input_error",
]


def input_error(loc: Loc, msg: str, kind: str = "value_error") -> RequestValidationError:
    """A 422 error naming the field ``loc`` (FastAPI's own error format)."""
    return RequestValidationError([{"loc": tuple(loc), "msg": msg, "type": kind}])


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


Label = int | float | str

_RECORD = "one table row: every column of the model's signature, {column: value}"
_IMAGE = ("pixel values 0..255 as nested lists, in the model's layout: HW (rows of pixels), "
          "CHW or HWC (see GET /model)")
_IMAGE_B64 = "base64 of the raw uint8 pixels, row-major in the model's layout"


CheckMode = Literal["inline", "deferred"]
_CHECK = ("when the detector checks the input: 'inline' (before the answer; the result is in "
          "the response's outlier) or 'deferred' (right after the answer; the result goes to the "
          "drift windows and the prediction log only). Null: the service's setting, by default "
          "'deferred'")


def _exactly_one(*fields: str) -> list[dict[str, Any]]:
    """JSON Schema ``oneOf`` branches: one of ``fields`` is given (not null), the others are
    absent or null. What the server checks, so that a client generating requests from the
    schema never sends a pair the server refuses."""
    return [{"required": [f], "properties": {f: {"not": {"type": "null"}},
                                             **{o: {"type": "null"} for o in fields if o != f}}}
            for f in fields]


class PredictRequest(_Model):
    """One input: a table row (``record``) or an image (``image`` or ``image_b64``)."""

    record: dict[str, Any] | None = Field(default=None, description=_RECORD)
    image: list[Any] | None = Field(default=None, description=_IMAGE)
    image_b64: str | None = Field(default=None, description=_IMAGE_B64)
    id: str | None = Field(default=None, description="your identifier, echoed in the response")
    check: CheckMode | None = Field(default=None, description=_CHECK)

    model_config = ConfigDict(
        extra="forbid",
        # No examples: the right input depends on the served model (GET /model describes it).
        json_schema_extra={"oneOf": _exactly_one("record", "image", "image_b64")},
    )


class BatchPredictRequest(_Model):
    """Several inputs: ``records`` (table rows), ``images`` (nested lists) or ``images_b64``."""

    records: list[dict[str, Any]] | None = Field(default=None, min_length=1, description="a list of table rows")
    images: list[list[Any]] | None = Field(default=None, min_length=1, description="a list of images")
    images_b64: list[str] | None = Field(default=None, min_length=1, description="a list of base64 images")
    ids: list[str] | None = Field(default=None, description="one identifier per input")
    check: CheckMode | None = Field(default=None, description=_CHECK)

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "oneOf": _exactly_one("records", "images", "images_b64")})


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


class InputInfo(_Model):
    """What the served model takes: its input schema, and how to send it."""

    kind: str = Field(description="'table', 'image' or 'tensor'")
    description: str
    dtype: str | None = None
    layout: str | None = Field(default=None, description="images: HW, CHW or HWC")
    shape: list[int] | None = Field(default=None, description="images: (channels, height, width)")
    sample_shape: list[int] | None = Field(
        default=None, description="the shape of one input as sent (image layout applied)"
    )
    columns: list[dict[str, str]] | None = Field(default=None, description="tables: name and type")
    send: str = Field(description="how to send this input to /predict and /predict/batch")


class ModelDetails(ModelInfo):
    flavor: str | None = Field(default=None, description="sklearn, scanflow_torch, python_function...")
    native: str | None = Field(default=None, description="the class of the native model")
    classes: list[Label] | None = None
    input: InputInfo | None = None


class ModelStatus(_Model):
    model: ModelDetails | None = Field(description="the model served now (null: none yet)")
    source: dict[str, Any]
    swaps: list[dict[str, Any]]
    last_error: str | None = None


class Prediction(_Model):
    id: str | None = None
    prediction_id: int | None = Field(
        default=None, description="the row of the prediction log (when the service keeps one)"
    )
    label: Label = Field(description="the predicted class, in the model's label space")
    class_index: int | None = Field(
        default=None, description="position of the label in the model's classes (and probabilities)"
    )
    confidence: float | None = Field(
        default=None, description="probability of the predicted class (null: the model gives none)"
    )
    probabilities: list[float] | None = Field(
        default=None, description="one per class, in the order of the model's classes"
    )
    outlier: OutlierFlag | None = Field(
        default=None, description="the inline check's result (null: checked after the answer, "
        "or the service runs without a detector)"
    )
    check: CheckMode | None = Field(
        default=None, description="how this input is checked: 'inline' (outlier holds the "
        "result), 'deferred' (checked right after this answer), null (no detector)"
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


class ExecutorOut(_Model):
    """An executor that ``POST /executors/{workflow}/{node}/run`` can start."""

    workflow: str
    node: str
    entrypoint: str = Field(description="what it runs: script or module, and function if any")


class RunStatusOut(_Model):
    """``GET /executors/runs/{run_id}``: a run and the status of each of its nodes."""

    run_id: str
    status: str = Field(description="running, succeeded, failed... (interrupted: its scheduler is gone)")
    nodes: dict[str, str] = Field(description="status of each node, by node id")
    workflow: str | None = None


class ReloadOut(_Model):
    """``POST /model/reload``: whether a new version was swapped in."""

    swapped: bool = Field(description="a new version was loaded and is served from now on")
    version: str | None = Field(description="the version served now (null: none yet)")
    error: str | None = Field(None, description="why the last load failed, if it did")


class DriftOut(_Model):
    """``GET /drift``: the drift check of each window of served samples, oldest first."""

    window: int | None = Field(description="samples per window (null: no drift check here)")
    windows: list[WindowResult]
    dropped: int = Field(0, description="samples left unchecked because the check fell behind")
    unchecked: int = Field(0, description="samples answered whose deferred check has not run yet")


class HealthOut(_Model):
    """``GET /health``: alive, and ready once a model is served."""

    status: str = Field(description="'ok' when a model is served, 'no-model' before that")
    model_version: str | None = None
    requests: int = Field(description="prediction requests answered since the start")
    samples: int = Field(description="samples predicted since the start")

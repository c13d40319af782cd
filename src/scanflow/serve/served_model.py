"""The model a prediction service serves: its adapter, its input schema, and how it answers.

Whatever comes out of a :class:`~scanflow.serve.model_slot.ModelSource` (an adapter loaded from
the registry, or a torch module / scikit-learn estimator handed over from Python) is turned into
a :class:`~scanflow.models.ModelAdapter` by :func:`as_served` before it is swapped in:

* its input schema is the model's own (its MLflow signature); a model logged without one takes
  the schema the service was given (``input_schema=``), else the one the detector was fitted on;
* a detector that cannot check that input (images for a table model, other columns, another
  image size) is an error naming both (:class:`DetectorMismatch`).

:func:`sample_input` builds the warm-up sample from a schema and :func:`answer` runs the model
once for a batch (labels, class positions, probabilities when the model has them)::

    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = pd.DataFrame({"alcohol": [12.0, 14.0, 12.5, 13.9], "hue": [1.0, 0.6, 1.1, 0.7]})
    >>> model = as_served(LogisticRegression().fit(X, ["white", "red", "white", "red"]))
    >>> sample_input(model.schema)
       alcohol  hue
    0      0.0  0.0
    >>> answer(model, X.iloc[:2]).labels
    ['white', 'red']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scanflow.errors import ScanflowError
from scanflow.models import (
    InputSchema,
    ModelAdapter,
    ModelLoadError,
    UnsupportedOperation,
    as_model,
)

from .inputs import model_takes

__all__ = ["Answers", "DetectorMismatch", "answer", "as_served", "check_detector",
           "detector_schema", "join_answers", "sample_input"]

_ZERO = {"double": 0.0, "float": 0.0, "long": 0, "integer": 0, "boolean": False, "string": "",
         "binary": b""}


class DetectorMismatch(ScanflowError, ValueError):
    """The detector was fitted on another kind or shape of input than the served model takes."""


# -- schema ----------------------------------------------------------------------------------
def detector_schema(detector: Any) -> InputSchema | None:
    """The input a fitted detector was fitted on, as a schema (None: it does not say)."""
    kind = getattr(detector, "input_kind_", None)
    shape = list(getattr(detector, "input_shape_", None) or [])
    if kind == "table" and len(shape) == 1:
        names = getattr(detector, "feature_names_in_", None) or [f"x{i}" for i in range(shape[0])]
        return InputSchema.table([str(n) for n in names])
    if kind == "image" and len(shape) == 3:
        c, h, w = shape
        return InputSchema.image(h, w, c, layout="HW" if c == 1 else "HWC")
    return None


def _fitted_on(detector: Any) -> str:
    kind, shape = detector.input_kind_, list(detector.input_shape_)
    if kind == "image" and len(shape) == 3:
        c, h, w = shape
        return f"images {h}x{w} ({c} channel{'s' if c != 1 else ''})"
    if kind == "table":
        names = getattr(detector, "feature_names_in_", None)
        shown = f" ({', '.join(map(str, names[:6]))}{', ...' if len(names) > 6 else ''})" if names else ""
        return f"a table of {shape[0] if shape else '?'} columns{shown}"
    return f"{kind} data of shape {tuple(shape)}"


def _mismatch(detector: Any, schema: InputSchema) -> str | None:
    """Why the detector cannot check this input (None: it can)."""
    kind = detector.input_kind_
    if kind != schema.kind:
        return "kind"
    shape = list(getattr(detector, "input_shape_", None) or [])
    if kind == "image" and tuple(shape) != tuple(schema.shape):
        return "shape"
    if kind == "table":
        names = getattr(detector, "feature_names_in_", None)
        if names and set(map(str, names)) != set(schema.names):
            missing = sorted(set(map(str, names)) - set(schema.names))
            return f"columns {missing} the model does not take" if missing else "columns"
        if not names and shape and shape[0] != len(schema.columns):
            return "width"
    return None


def check_detector(detector: Any, schema: InputSchema, *, model: str, detector_name: str | None = None) -> None:
    """Raise :class:`DetectorMismatch` when ``detector`` cannot check the input of ``model``."""
    if detector is None or getattr(detector, "input_kind_", None) is None:
        return  # not fitted with Scanflow's Detector base: nothing to compare
    if _mismatch(detector, schema) is None:
        return
    name = detector_name or f"the detector ({type(detector).__name__})"
    raise DetectorMismatch(
        f"{name} was fitted on {_fitted_on(detector)} but the model {model!r} takes "
        f"{model_takes(schema)}: fit a detector on the model's own input (Detector.fit(X_train)"
        ".save(path)) and serve with it, or serve without a detector")


def as_served(model: Any, *, name: str = "model", input_schema: InputSchema | None = None,
              detector: Any = None, detector_name: str | None = None) -> ModelAdapter:
    """``model`` as the adapter to serve, with a known input schema that ``detector`` can check."""
    adapter = as_model(model)
    if adapter.schema is None:
        schema = input_schema or detector_schema(detector)
        if schema is None:
            raise ModelLoadError(
                f"the model {name!r} declares no input schema, so the API cannot check requests: "
                "log it with a signature (scanflow.models.log_model(model, input_example=X) or "
                "mlflow's signature=infer_signature(X, y)), or give the service one "
                "(input_schema= in Python, `input_schema:` in the service parameters)")
        adapter = adapter.with_native(adapter.native)  # a copy: the source's object is not changed
        adapter.schema = schema
    check_detector(detector, adapter.schema, model=name, detector_name=detector_name)
    return adapter


def sample_input(schema: InputSchema) -> Any:
    """One zero sample of ``schema`` (the warm-up input): a one-row DataFrame or a zero array."""
    if schema.kind == "table":
        # lazy: pandas, slow to import; only table models need it
        import pandas as pd

        return pd.DataFrame({c.name: [_ZERO.get(c.type, 0.0)] for c in schema.columns})
    dtype = np.uint8 if schema.dtype == "uint8" else np.float32
    return np.zeros((1, *schema.sample_shape), dtype=dtype)


# -- answers ---------------------------------------------------------------------------------
@dataclass
class Answers:
    """What the model said about a batch: labels (plain Python), class positions, probabilities."""

    labels: list[Any]
    index: np.ndarray | None
    proba: np.ndarray | None

    @property
    def confidence(self) -> np.ndarray | None:
        return None if self.proba is None else self.proba.max(axis=1)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def answer(model: ModelAdapter, X: Any) -> Answers:
    """Run ``model`` once on ``X``: probabilities when it has them, else its labels."""
    proba = None
    if model.has_proba:
        try:
            proba = model.predict_proba(X)
        except UnsupportedOperation:  # a pyfunc model that turned out to return labels
            proba = None
    if proba is not None:
        index = proba.argmax(axis=1)
        labels = model.label_of(index)
    else:
        labels = np.asarray(model.predict(X))
        try:
            index = model.label_index(labels) if model.classes_ is not None else None
        except UnsupportedOperation:
            index = None
    return Answers([_plain(v) for v in np.asarray(labels).tolist()], index, proba)


def join_answers(parts: list[Answers]) -> Answers:
    """The answers about several batches as the answers about them joined, in order."""
    if len(parts) == 1:
        return parts[0]

    def joined(arrays: list[np.ndarray | None]) -> np.ndarray | None:
        return None if any(a is None for a in arrays) else np.concatenate(arrays)

    return Answers([v for p in parts for v in p.labels], joined([p.index for p in parts]),
                   joined([p.proba for p in parts]))

"""Any MLflow ``pyfunc`` model behind the model interface (served, checked, gated; not refit).

A ``PyFuncModel`` answers ``predict`` only. When its output is a 2-D array of non-negative rows
summing to one it is taken as class probabilities (``classes_`` from the signature's output
when it names them); otherwise as labels, and ``predict_proba`` is unavailable (uncertainty
selectors then fall back to detector scores). It cannot be trained by the built-in strategies:
improve it with a retrain workflow.

Example:
    >>> import numpy as np
    >>> class Fake:                      # the part of PyFuncModel the adapter uses
    ...     metadata = None
    ...     def predict(self, X):
    ...         return np.tile([0.2, 0.8], (len(X), 1))
    >>> PyfuncModel(Fake()).predict(np.zeros((2, 3))).tolist()
    [1, 1]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .base import ModelAdapter, UnsupportedOperation
from .schema import InputSchema

__all__ = ["PyfuncModel"]


def _is_proba(out: np.ndarray) -> bool:
    return (out.ndim == 2 and out.shape[1] > 1 and out.dtype.kind == "f"
            and bool(np.all(out >= -1e-6)) and bool(np.allclose(out.sum(axis=1), 1.0, atol=1e-3)))


class PyfuncModel(ModelAdapter):
    """A loaded ``mlflow.pyfunc.PyFuncModel`` (see the module docstring)."""

    flavor = "python_function"

    def __init__(self, pyfunc: Any, *, schema: InputSchema | None = None, classes: Any = None,
                 source: str | None = None):
        meta = getattr(pyfunc, "metadata", None)
        if schema is None and meta is not None and meta.signature is not None:
            schema = InputSchema.from_signature(meta.signature)
        super().__init__(pyfunc, schema=schema, classes=classes)
        self.source = source
        self._proba: bool | None = None

    def _raw(self, inputs: Any) -> np.ndarray:
        out = self.native.predict(inputs)
        if hasattr(out, "to_numpy"):
            out = out.to_numpy()
        return np.asarray(out)

    @property
    def has_proba(self) -> bool:
        return self._proba is not False

    def _predict_proba(self, inputs: Any) -> np.ndarray:
        out = self._raw(inputs)
        self._proba = _is_proba(out)
        if not self._proba:
            raise UnsupportedOperation("this pyfunc model returns labels, not probabilities")
        return out

    def predict(self, X: Any) -> np.ndarray:
        out = self._raw(self.inputs(X))
        if _is_proba(out):
            self._proba = True
            if self._classes is None:
                self._classes = np.arange(out.shape[1])
            return np.asarray(self._classes)[out.argmax(axis=1)]
        self._proba = False
        return out.reshape(len(out), -1)[:, 0] if out.ndim > 1 else out

    def save(self, path: str | Path) -> Path:
        raise UnsupportedOperation(
            "a pyfunc model is saved by the library that made it; it is already in the "
            f"registry{f' ({self.source})' if self.source else ''}")

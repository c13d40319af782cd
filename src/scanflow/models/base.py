"""The one model interface of the loop: :class:`ModelAdapter`.

Whatever trained it, a model enters selection, the improvement strategies, the evaluation gate
and serving through this small interface, modelled on MLflow's ``pyfunc``:

==================  ============================================================================
``predict(X)``      the predicted class of each sample (in the model's own label space)
``predict_proba``   class probabilities ``(n, k)`` in the order of ``classes_`` (``has_proba``)
``classes_``        the class labels, or None when the model does not say
``schema``          the :class:`~scanflow.models.schema.InputSchema` (table columns or image
                    shape); learned from the first data seen when not given
``fit_more``        a *new* adapter trained further on ``(X, y)`` (fine-tune / refit), for the
                    built-in strategies (``can_fit``); the adapter itself is never modified
``save(path)``      an MLflow model folder (flavors + signature) that stock MLflow loads
==================  ============================================================================

Built-in adapters: :class:`~scanflow.models.sklearn_model.SklearnModel` (estimators and
pipelines), :class:`~scanflow.models.torch_model.TorchModel` (``nn.Module`` of any input shape)
and :class:`~scanflow.models.pyfunc_model.PyfuncModel` (any MLflow ``pyfunc``). To add a kind of
model, subclass :class:`ModelAdapter` and implement ``_predict_proba`` (or ``predict``) and
``save``; :func:`scanflow.models.as_model` wraps objects, :func:`scanflow.models.load_model`
reads MLflow folders back (docs/models.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import ScanflowError
from .data import as_model_input
from .schema import InputSchema

__all__ = ["ModelAdapter", "UnsupportedOperation"]


class UnsupportedOperation(ScanflowError, TypeError):
    """The model cannot do what was asked (no probabilities, cannot be refit, ...)."""


class ModelAdapter(ABC):
    """Base class of the model adapters (see the module docstring)."""

    flavor: ClassVar[str] = ""
    can_fit: ClassVar[bool] = False

    def __init__(self, native: Any, *, schema: InputSchema | None = None,
                 classes: Any = None):
        self.native = native
        self.schema = schema
        self._classes = None if classes is None else np.asarray(classes)

    # ------------------------------------------------------------------ what it is
    @property
    def classes_(self) -> np.ndarray | None:
        return self._classes

    @property
    def kind(self) -> str | None:
        """``"table"``, ``"image"`` or ``"tensor"`` (None until the schema is known)."""
        return None if self.schema is None else self.schema.kind

    @property
    def has_proba(self) -> bool:
        return True

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description: flavor, native type, schema and classes."""
        classes = None if self.classes_ is None else [_plain(c) for c in self.classes_]
        return {"flavor": self.flavor, "native": f"{type(self.native).__module__}."
                f"{type(self.native).__qualname__}", "classes": classes,
                "schema": None if self.schema is None else self.schema.to_dict()}

    def __repr__(self) -> str:
        what = self.schema.describe() if self.schema is not None else "schema not known yet"
        return f"{type(self).__name__}({type(self.native).__name__}, {what})"

    # ------------------------------------------------------------------ prediction
    def ensure_schema(self, X: Any) -> InputSchema:
        """The schema, learned from ``X`` the first time when none was given."""
        if self.schema is None:
            self.schema = InputSchema.from_data(X)
        return self.schema

    def inputs(self, X: Any) -> Any:
        """``X`` checked against the schema and put in the form the model takes."""
        return as_model_input(X, self.ensure_schema(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(n, k)``, columns in the order of ``classes_``."""
        proba = np.asarray(self._predict_proba(self.inputs(X)), dtype=np.float64)
        if self._classes is None and proba.ndim == 2:
            self._classes = np.arange(proba.shape[1])
        return proba

    def predict(self, X: Any) -> np.ndarray:
        """The predicted class of each sample, in the label space of ``classes_``."""
        proba = self.predict_proba(X)
        return np.asarray(self.classes_)[proba.argmax(axis=1)]

    @abstractmethod
    def _predict_proba(self, inputs: Any) -> np.ndarray:
        """Probabilities for inputs already in the model's form (every adapter)."""

    # ------------------------------------------------------------------ labels
    def label_index(self, y: Any) -> np.ndarray:
        """Positions in ``classes_`` of the labels ``y`` (what a labeling UI shows as 0, 1, ...)."""
        classes = list(self.classes_) if self.classes_ is not None else None
        y = np.asarray(y)
        if classes is None:
            return y.astype(np.int64)
        where = {_plain(c): i for i, c in enumerate(classes)}
        try:
            return np.array([where[_plain(v)] for v in y], dtype=np.int64)
        except KeyError as exc:
            raise UnsupportedOperation(f"label {exc.args[0]!r} is not one of the model's classes "
                                       f"{[_plain(c) for c in classes]}") from None

    def label_of(self, index: Any) -> np.ndarray:
        """The class labels at positions ``index`` of ``classes_``."""
        idx = np.asarray(index, dtype=np.int64)
        return idx if self.classes_ is None else np.asarray(self.classes_)[idx]

    # ------------------------------------------------------------------ improvement
    def fit_more(self, X: Any, y: Any, *, seed: int = 0, **settings: Any) -> ModelAdapter:
        """A new adapter trained further on ``(X, y)``; this one is not modified."""
        raise UnsupportedOperation(
            f"a {self.flavor or type(self).__name__} model cannot be trained by Scanflow's "
            "built-in strategies: improve it with your own retrain workflow (improver config "
            "'retrain_workflow')")

    def with_native(self, native: Any) -> ModelAdapter:
        """The same kind of adapter around another native model (schema and classes kept)."""
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.native = native
        return clone

    # ------------------------------------------------------------------ persistence
    @abstractmethod
    def save(self, path: str | Path) -> Path:
        """Write an MLflow model folder (MLmodel with flavors and signature) at ``path``."""


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value

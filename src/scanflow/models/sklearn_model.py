"""scikit-learn estimators and pipelines behind the model interface, and their MLflow flavor.

:class:`SklearnModel` wraps any fitted classifier (a ``Pipeline`` included). Tables go to the
estimator as a DataFrame with the columns it was fitted on (matched by name) when it knows its
``feature_names_in_``, else as a plain array in schema order.

Improvement (``fit_more``):

* ``mode="refit"`` (default): a ``clone`` of the estimator fitted on the rows given (the
  strategies pass a replay of the training data plus the labeled rows, repeated);
* ``mode="partial_fit"``: a copy updated with ``partial_fit`` on the rows given (estimators that
  learn online: ``SGDClassifier``, ``MLPClassifier``, naive Bayes...).

Saved in the ``skops`` format (no pickle) as an MLflow folder with the ``sklearn`` flavor (for
``mlflow.sklearn``) and a ``python_function`` flavor whose loader is this module, so
``mlflow.pyfunc.load_model`` reads it through Scanflow's trust rules
(:mod:`scanflow.models.trust`) — without MLflow's ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION``.

Example:
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    >>> m = SklearnModel(LogisticRegression().fit(X, y))
    >>> m.predict(X[:3]).shape, m.schema.names, m.classes_.tolist()
    ((3,), ['x0', 'x1', 'x2'], [0, 1])
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

from .base import ModelAdapter, UnsupportedOperation
from .mlflow_folder import pinned, read_mlmodel, write_mlmodel
from .schema import Column, InputSchema
from .trust import ModelLoadError, check_pickle_allowed, skops_trusted_types

__all__ = ["SklearnModel", "load_sklearn_folder"]

MODEL_FILE = "model.skops"


def _schema_of(estimator: Any) -> InputSchema | None:
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        return InputSchema.table([Column(str(n)) for n in names])
    n = getattr(estimator, "n_features_in_", None)
    return None if n is None else InputSchema.table([Column(f"x{i}") for i in range(int(n))])


class SklearnModel(ModelAdapter):
    """A fitted scikit-learn classifier or pipeline (see the module docstring)."""

    flavor = "sklearn"
    can_fit = True

    def __init__(self, estimator: Any, *, schema: InputSchema | None = None, classes: Any = None):
        if not callable(getattr(estimator, "predict", None)):
            raise UnsupportedOperation(f"{type(estimator).__name__} has no predict(): pass a "
                                       "fitted scikit-learn classifier or pipeline")
        super().__init__(estimator, schema=schema or _schema_of(estimator),
                         classes=classes if classes is not None else getattr(estimator, "classes_", None))

    @property
    def has_proba(self) -> bool:
        return callable(getattr(self.native, "predict_proba", None))

    def _native_input(self, frame: Any) -> Any:
        if getattr(self.native, "feature_names_in_", None) is not None or not hasattr(frame, "to_numpy"):
            return frame
        return frame.to_numpy()

    def _predict_proba(self, inputs: Any) -> np.ndarray:
        if not self.has_proba:
            raise UnsupportedOperation(f"{type(self.native).__name__} has no predict_proba(); "
                                       "use a probabilistic classifier for uncertainty selection")
        return self.native.predict_proba(self._native_input(inputs))

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.native.predict(self._native_input(self.inputs(X))))

    # ------------------------------------------------------------------ improvement
    def fit_more(self, X: Any, y: Any, *, seed: int = 0, mode: str = "refit",
                 **_: Any) -> SklearnModel:
        """A new estimator trained on ``(X, y)``: a refit clone or a ``partial_fit`` copy."""
        # lazy: scikit-learn, slow to import; only refitting needs it
        from sklearn.base import clone

        data = self._native_input(self.inputs(X))
        y = np.asarray(y)
        if mode == "partial_fit":
            if not callable(getattr(self.native, "partial_fit", None)):
                raise UnsupportedOperation(f"{type(self.native).__name__} has no partial_fit(): "
                                           "use mode='refit'")
            est = copy.deepcopy(self.native)
            est.partial_fit(data, y, classes=self.classes_)
        elif mode == "refit":
            est = clone(self.native)
            _seed(est, seed)
            est.fit(data, y)
        else:
            raise UnsupportedOperation(f"mode={mode!r}: use 'refit' or 'partial_fit'")
        return self.with_native(est)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        # lazy: skops, needed only by scikit-learn models
        import skops.io

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        skops.io.dump(self.native, folder / MODEL_FILE)
        trusted = skops.io.get_untrusted_types(file=folder / MODEL_FILE)
        signature = None
        if self.schema is not None:
            example = self.classes_[:1] if self.classes_ is not None else None
            signature = self.schema.to_signature(output=example)
        write_mlmodel(folder, loader_module="scanflow.models.sklearn_model", data=MODEL_FILE,
                      flavor="sklearn", flavor_conf={
                          "pickled_model": MODEL_FILE, "serialization_format": "skops",
                          "sklearn_version": pinned("scikit-learn")[0].split("==")[1],
                          "skops_trusted_types": trusted, "code": None},
                      signature=signature,
                      requirements=pinned("scikit-learn", "skops", "numpy", "scipy", "pandas",
                                          "mlflow"))
        return folder


def _seed(estimator: Any, seed: int) -> None:
    """Set every ``random_state`` that is None (pipelines included) so a refit is repeatable."""
    params = estimator.get_params(deep=True)
    fixed = {k: seed for k, v in params.items() if k.split("__")[-1] == "random_state" and v is None}
    if fixed:
        estimator.set_params(**fixed)


def load_sklearn_folder(path: str | Path, *, trusted_types: tuple[str, ...] = (),
                        allow_pickle: bool = False) -> SklearnModel:
    """Read an MLflow folder with the ``sklearn`` flavor (skops: trusted library types only;
    pickle formats: only with ``allow_pickle``)."""
    folder = Path(path)
    mlmodel = read_mlmodel(folder)
    conf = mlmodel.flavors.get("sklearn")
    if conf is None:
        raise ModelLoadError(f"{folder} has no sklearn flavor")
    file = _inside(folder, conf.get("pickled_model", MODEL_FILE))
    fmt = conf.get("serialization_format", "pickle")
    if fmt == "skops":
        # lazy: skops, needed only by scikit-learn models
        import skops.io

        estimator = skops.io.load(file, trusted=skops_trusted_types(str(file), trusted_types))
    else:
        check_pickle_allowed(f"the scikit-learn model in {folder} ({fmt})", allow_pickle)
        # lazy: cloudpickle, needed only by pickle-format models
        import cloudpickle

        with open(file, "rb") as fh:
            estimator = cloudpickle.load(fh)
    schema = InputSchema.from_signature(mlmodel.signature) if mlmodel.signature else None
    return SklearnModel(estimator, schema=schema)


def _inside(folder: Path, name: Any) -> Path:
    """``folder / name``, refusing a name (from the MLmodel file) that leads out of the folder."""
    if not isinstance(name, str) or not name:
        raise ModelLoadError(f"{folder}: the sklearn flavor's pickled_model must be a file name")
    file = (folder / name).resolve()
    if not file.is_relative_to(folder.resolve()):
        raise ModelLoadError(f"{folder}: the sklearn flavor's pickled_model {name!r} points outside "
                             "the model folder")
    return file


class _PyfuncSklearn:
    """What ``mlflow.pyfunc.load_model`` returns for a model Scanflow saved."""

    def __init__(self, model: SklearnModel):
        self.model = model

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> np.ndarray:
        if (params or {}).get("output") == "proba":
            return self.model.predict_proba(model_input)
        return self.model.predict(model_input)

    def get_raw_model(self) -> Any:
        return self.model.native


def _load_pyfunc(data_path: str) -> _PyfuncSklearn:
    """MLflow's pyfunc entry point (``loader_module``)."""
    path = Path(data_path)
    return _PyfuncSklearn(load_sklearn_folder(path.parent if path.is_file() else path))

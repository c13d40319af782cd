"""Models in and out: wrap any model (:func:`as_model`), log it to MLflow (:func:`log_model`),
load it back from a run, the registry or a folder (:func:`load_model`).

``load_model`` reads the folder's ``MLmodel`` and picks the adapter by flavor:

===================  ============================================================================
``scanflow_torch``   :class:`~scanflow.models.torch_model.TorchModel` (weights only, trusted class)
``sklearn``          :class:`~scanflow.models.sklearn_model.SklearnModel` (skops: library types;
                     pickle formats: only with ``allow_pickle``) — also models logged by plain
                     ``mlflow.sklearn.log_model``
anything else        :class:`~scanflow.models.pyfunc_model.PyfuncModel` through
                     ``mlflow.pyfunc.load_model``, which may run the file's code: only with
                     ``allow_pickle``
===================  ============================================================================

Example (with a tracking store; see docs/models.md)::

    from scanflow.models import as_model, load_model, log_model
    info = log_model(as_model(pipeline, schema=InputSchema.from_data(X_train)), "model",
                     registered_model_name="wine")
    champion = load_model("models:/wine@champion")
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanflow.track import (
    current_run_id,
    get_client,
    register_model,
    resolve_model_uri,
    tracking_uri,
)

from .base import ModelAdapter, UnsupportedOperation
from .mlflow_folder import read_mlmodel
from .pyfunc_model import PyfuncModel
from .schema import InputSchema
from .sklearn_model import SklearnModel, load_sklearn_folder
from .trust import ModelLoadError, check_pickle_allowed

__all__ = [
    "LoggedModel",
    "as_model",
    "load_model",
    "load_model_folder",
    "log_model",
    "save_model",
]


def _is_torch_module(obj: Any) -> bool:
    return "torch" in sys.modules and isinstance(obj, sys.modules["torch"].nn.Module)


def _is_pyfunc(obj: Any) -> bool:
    return type(obj).__name__ == "PyFuncModel" and type(obj).__module__.startswith("mlflow")


def as_model(obj: Any, *, schema: InputSchema | None = None, classes: Any = None,
             **kwargs: Any) -> ModelAdapter:
    """The adapter for ``obj``: an adapter (returned as is), an ``nn.Module``, a scikit-learn
    estimator or pipeline, or an ``mlflow.pyfunc`` model. ``kwargs`` go to the adapter
    (``init_kwargs=`` for a torch module)."""
    if isinstance(obj, ModelAdapter):
        if schema is not None:
            obj.schema = schema
        return obj
    if _is_torch_module(obj):
        # lazy: torch (importing scanflow.models must not load it)
        from .torch_model import TorchModel

        return TorchModel(obj, schema=schema, classes=classes, **kwargs)
    if _is_pyfunc(obj):
        return PyfuncModel(obj, schema=schema, classes=classes)
    if callable(getattr(obj, "predict", None)):
        return SklearnModel(obj, schema=schema, classes=classes)
    raise UnsupportedOperation(
        f"cannot use a {type(obj).__name__} as a model: pass a torch nn.Module, a fitted "
        "scikit-learn estimator or pipeline, an MLflow pyfunc model, or a ModelAdapter")


def save_model(model: Any, path: str | Path, **kwargs: Any) -> Path:
    """Write ``model`` as an MLflow model folder at ``path`` (flavors + signature)."""
    return as_model(model, **kwargs).save(path)


@dataclass(frozen=True)
class LoggedModel:
    """Where :func:`log_model` put a model: ``runs:/RUN/NAME`` and its registry version."""

    uri: str
    run_id: str
    version: int | None = None


def log_model(model: Any, name: str = "model", *, run_id: str | None = None,
              registered_model_name: str | None = None, tags: dict[str, Any] | None = None,
              description: str | None = None, input_example: Any = None,
              **adapter_kwargs: Any) -> LoggedModel:
    """Store ``model`` in the artifacts of a run (the node's, the active one, or ``run_id``) as
    an MLflow model folder; with ``registered_model_name``, also create a registry version."""
    adapter = as_model(model, **adapter_kwargs)
    if adapter.schema is None and input_example is not None:
        adapter.ensure_schema(input_example)
    rid = current_run_id(run_id)
    with tempfile.TemporaryDirectory() as tmp:
        folder = adapter.save(Path(tmp) / name)
        get_client(tracking_uri()).log_artifacts(rid, str(folder), name)
    uri = f"runs:/{rid}/{name}"
    version = None
    if registered_model_name:
        version = register_model(uri, registered_model_name, description=description,
                                 tags={"scanflow.flavor": adapter.flavor, **(tags or {})})
    return LoggedModel(uri, rid, version)


def _local_folder(source: str, tmp: str) -> Path:
    # lazy: mlflow (importing scanflow.models must not load it)
    import mlflow

    if Path(source).is_dir():
        return Path(source)
    if source.startswith("file://") and Path(source[len("file://"):]).is_dir():
        return Path(source[len("file://"):])
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp,
                                                    tracking_uri=tracking_uri()))


def load_model_folder(folder: str | Path, *, trusted_types: tuple[str, ...] = (),
                      trusted_architectures: tuple[str, ...] = (),
                      allow_pickle: bool = False) -> ModelAdapter:
    """The adapter for a local MLflow model folder (or an older Scanflow torch folder)."""
    # lazy: torch (importing scanflow.models must not load it)
    from .torch_model import FLAVOR, read_torch_folder

    folder = Path(folder)
    if not (folder / "MLmodel").is_file():
        if (folder / "scanflow_model.json").is_file():  # the format of Scanflow 0.1
            return read_torch_folder(folder, trusted_architectures=tuple(trusted_architectures))
        read_mlmodel(folder)  # raises the "not an MLflow model folder" error
    flavors = read_mlmodel(folder).flavors
    if FLAVOR in flavors:
        return read_torch_folder(folder, trusted_architectures=tuple(trusted_architectures))
    if "sklearn" in flavors:
        return load_sklearn_folder(folder, trusted_types=tuple(trusted_types),
                                   allow_pickle=allow_pickle)
    if "python_function" not in flavors:
        raise ModelLoadError(f"{folder} has no flavor Scanflow can use ({', '.join(flavors)}); "
                             "log it with a python_function flavor")
    check_pickle_allowed(f"the {'/'.join(flavors)} model in {folder}", allow_pickle)
    # lazy: mlflow (importing scanflow.models must not load it)
    import mlflow.pyfunc

    return PyfuncModel(mlflow.pyfunc.load_model(str(folder)), source=str(folder))


def load_model(model_uri_or_name: str, *, alias: str | None = None,
               version: int | str | None = None, trusted_types: tuple[str, ...] = (),
               trusted_architectures: tuple[str, ...] = (), allow_pickle: bool = False) -> ModelAdapter:
    """Load a model as its adapter: ``load_model("wine", alias="champion")``,
    ``load_model("models:/wine/3")``, ``load_model("runs:/RUN/model")`` or a local folder.

    Nothing of the file's choosing runs unless you trust it (:mod:`scanflow.models.trust`).
    """
    try:
        source = resolve_model_uri(model_uri_or_name, alias, version)
    except Exception as exc:  # the registry's own error says little about what to do
        if Path(model_uri_or_name).is_dir():
            source = model_uri_or_name
        else:
            raise ModelLoadError(f"cannot find the model {model_uri_or_name!r}"
                                 + (f" @{alias}" if alias else "")
                                 + (f" version {version}" if version is not None else "")
                                 + f": {exc}") from exc
    tmp = tempfile.mkdtemp(prefix="scanflow-model-")
    try:
        model = load_model_folder(_local_folder(source, tmp), trusted_types=trusted_types,
                                  trusted_architectures=trusted_architectures,
                                  allow_pickle=allow_pickle)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not isinstance(model, PyfuncModel):  # a pyfunc model may read its folder later
        shutil.rmtree(tmp, ignore_errors=True)
    return model

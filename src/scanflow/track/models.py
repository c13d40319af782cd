"""Models as run artifacts and registry versions, stored without pickles.

A torch model is stored as a folder of two files:

- ``weights.pt``: the ``state_dict`` (``torch.save``), read back with ``torch.load(weights_only=True)``;
- ``scanflow_model.json``: ``{"format": "scanflow.torch/1", "class": "pkg.mod:Class", "kwargs": {...}}``,
  enough to rebuild the module (``Class(**kwargs)``) before loading the weights.

The class must be importable where the model is loaded (not defined in ``__main__``); its
constructor arguments come from ``init_kwargs=``, else from a ``model.init_kwargs`` dict.

>>> import torch, tempfile                                       # doctest: +SKIP
>>> uri = log_torch_model(torch.nn.Linear(4, 2), "model",        # doctest: +SKIP
...                       init_kwargs={"in_features": 4, "out_features": 2})
>>> load_torch_model(uri)                                        # doctest: +SKIP
Linear(in_features=4, out_features=2, bias=True)

sklearn models go through ``mlflow.sklearn`` with the ``skops`` format (no pickle).
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .helpers import current_run_id
from .registry import register_model
from .store import fluent_tracking_uri, get_client, registry_uri, tracking_uri

FORMAT = "scanflow.torch/1"
CONFIG_FILE = "scanflow_model.json"
WEIGHTS_FILE = "weights.pt"


def save_torch_model(model: Any, path: str | os.PathLike[str], init_kwargs: dict[str, Any] | None = None) -> Path:
    """Write ``weights.pt`` and ``scanflow_model.json`` into the folder ``path``."""
    import torch

    cls = type(model)
    if cls.__module__ == "__main__":
        raise ValueError(f"model class {cls.__name__} is defined in __main__: move it to an importable "
                         "module so that it can be rebuilt when the model is loaded")
    kwargs = init_kwargs if init_kwargs is not None else getattr(model, "init_kwargs", None)
    if kwargs is None:
        raise ValueError(f"pass init_kwargs= (the arguments of {cls.__name__}(...)) or give the model an "
                         "`init_kwargs` dict attribute")
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / WEIGHTS_FILE)
    config = {"format": FORMAT, "class": f"{cls.__module__}:{cls.__qualname__}", "kwargs": kwargs,
              "torch_version": torch.__version__}
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    return folder


def load_torch_folder(path: str | os.PathLike[str], map_location: str = "cpu") -> Any:
    """Rebuild a model saved by :func:`save_torch_model` (never unpickles)."""
    import torch

    folder = Path(path)
    config = json.loads((folder / CONFIG_FILE).read_text())
    if config.get("format") != FORMAT:
        raise ValueError(f"{folder} is not a Scanflow torch model (format {config.get('format')!r})")
    module, _, qualname = config["class"].partition(":")
    cls: Any = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    model = cls(**config["kwargs"])
    state = torch.load(folder / WEIGHTS_FILE, map_location=map_location, weights_only=True)
    model.load_state_dict(state)
    model.eval()
    return model


def log_torch_model(model: Any, name: str = "model", registered_model_name: str | None = None,
                    init_kwargs: dict[str, Any] | None = None, run_id: str | None = None) -> str:
    """Store ``model`` under the artifact folder ``name`` of the run; return ``runs:/RUN/name``.

    With ``registered_model_name``, also create a new registry version of that model.
    """
    rid = current_run_id(run_id)
    client = get_client(tracking_uri())
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_torch_model(model, Path(tmp) / name, init_kwargs)
        client.log_artifacts(rid, str(folder), name)
    uri = f"runs:/{rid}/{name}"
    if registered_model_name:
        register_model(uri, registered_model_name, tags={"scanflow.format": FORMAT})
    return uri


def resolve_model_uri(model_uri_or_name: str, alias: str | None = None, version: int | None = None) -> str:
    """An artifact URI for ``name`` + ``alias``/``version``, ``models:/name@alias``,
    ``models:/name/3``, ``runs:/RUN/path``, or an artifact URI / local path (unchanged)."""
    client = get_client(tracking_uri(), registry_uri())
    target = model_uri_or_name
    if alias is not None or version is not None:
        target = f"models:/{target}@{alias}" if alias is not None else f"models:/{target}/{version}"
    if target.startswith("models:/"):
        spec = target[len("models:/"):]
        if "@" in spec:
            name, _, al = spec.partition("@")
            mv = client.get_model_version_by_alias(name, al)
        else:
            name, _, ver = spec.rpartition("/")
            mv = client.get_model_version(name, ver)
        return mv.source
    if target.startswith("runs:/"):
        run_id, _, path = target[len("runs:/"):].partition("/")
        return client.get_run(run_id).info.artifact_uri.rstrip("/") + (f"/{path}" if path else "")
    return target


def load_torch_model(model_uri_or_name: str, alias: str | None = None, version: int | None = None,
                     map_location: str = "cpu") -> Any:
    """Load a model stored by :func:`log_torch_model`, e.g. ``load_torch_model("mnist", alias="champion")``."""
    import mlflow

    source = resolve_model_uri(model_uri_or_name, alias, version)
    if Path(source).is_dir():
        return load_torch_folder(source, map_location)
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp,
                                                    tracking_uri=tracking_uri())
        return load_torch_folder(local, map_location)


def log_sklearn_model(model: Any, name: str = "model", registered_model_name: str | None = None,
                      run_id: str | None = None) -> str:
    """Log a scikit-learn model with ``mlflow.sklearn`` in the ``skops`` format; return its URI."""
    import mlflow
    import mlflow.sklearn

    rid = current_run_id(run_id)
    with fluent_tracking_uri(tracking_uri()):
        active = mlflow.active_run()
        started = active is None or active.info.run_id != rid
        if started:
            mlflow.start_run(run_id=rid, nested=active is not None)
        try:
            info = mlflow.sklearn.log_model(model, name=name, serialization_format="skops",
                                            registered_model_name=registered_model_name,
                                            pip_requirements=_sklearn_requirements())
        finally:
            if started:
                # Leave the run RUNNING: the scheduler (or the caller) ends it with the real status.
                mlflow.end_run(status="RUNNING")
    return info.model_uri


def load_sklearn_model(model_uri_or_name: str, alias: str | None = None, trusted: list[str] | None = None) -> Any:
    """Load a model logged by :func:`log_sklearn_model` (``models:/name@alias`` or its URI)."""
    import mlflow
    import mlflow.sklearn

    uri = f"models:/{model_uri_or_name}@{alias}" if alias else model_uri_or_name
    with fluent_tracking_uri(tracking_uri()):
        if trusted:
            return mlflow.sklearn.load_model(uri, skops_trusted_types=trusted)
        return mlflow.sklearn.load_model(uri)


def _sklearn_requirements() -> list[str]:
    # Given explicitly: inferring them makes MLflow import the model in a subprocess (~20 s).
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for package in ("scikit-learn", "skops", "numpy", "scipy"):
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            continue
    return pins

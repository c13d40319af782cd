"""Models: one interface for every model the loop touches, and their MLflow flavors.

================================  ==========================================================
:class:`ModelAdapter`             predict, predict_proba, classes_, schema, fit_more, save
:class:`InputSchema`              named typed columns, or an image / tensor shape
:func:`as_model`                  wrap a torch module, a scikit-learn estimator or pipeline,
                                  an MLflow pyfunc model
:func:`log_model` / :func:`load_model`   to and from MLflow runs and the registry
:func:`register_architecture`     trust a torch class for loading
================================  ==========================================================

Importing this package does not import torch, scikit-learn or MLflow: the adapters
``TorchModel``, ``SklearnModel`` and ``PyfuncModel`` load on first use.
"""

import importlib
from typing import Any

from .base import ModelAdapter, UnsupportedOperation
from .data import as_frame, as_images, as_model_input, concat, n_samples, take
from .io import LoggedModel, as_model, load_model, load_model_folder, log_model, save_model
from .schema import Column, InputSchema, SchemaError
from .shortcuts import (
    load_sklearn_model,
    load_torch_folder,
    load_torch_model,
    log_sklearn_model,
    log_torch_model,
    save_torch_model,
)
from .trust import (
    ModelLoadError,
    UntrustedModelError,
    register_architecture,
    resolve_architecture,
)

_LAZY = {
    "TorchModel": "scanflow.models.torch_model",
    "SklearnModel": "scanflow.models.sklearn_model",
    "PyfuncModel": "scanflow.models.pyfunc_model",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'scanflow.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "PyfuncModel", "SklearnModel", "TorchModel",
    "Column", "InputSchema", "LoggedModel", "ModelAdapter", "ModelLoadError", "SchemaError",
    "UnsupportedOperation", "UntrustedModelError", "as_frame", "as_images", "as_model",
    "as_model_input", "concat", "load_model", "load_model_folder", "load_sklearn_model",
    "load_torch_folder", "load_torch_model", "log_model", "log_sklearn_model", "log_torch_model",
    "n_samples", "register_architecture", "resolve_architecture", "save_model",
    "save_torch_model", "take",
]

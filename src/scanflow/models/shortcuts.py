"""Shortcuts for node code that knows its model's kind: log and load a torch module or a
scikit-learn estimator in one call (each is :func:`~scanflow.models.log_model` /
:func:`~scanflow.models.load_model` with the adapter chosen for you).

>>> import torch, tempfile
>>> folder = save_torch_model(torch.nn.Linear(4, 2), tempfile.mkdtemp() + "/m",
...                           init_kwargs={"in_features": 4, "out_features": 2})
>>> load_torch_folder(folder)
Linear(in_features=4, out_features=2, bias=True)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .io import load_model, load_model_folder, log_model

__all__ = [
    "load_sklearn_model",
    "load_torch_folder",
    "load_torch_model",
    "log_sklearn_model",
    "log_torch_model",
    "save_torch_model",
]


def save_torch_model(module: Any, path: str | os.PathLike[str],
                     init_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> Path:
    """Write ``module`` as an MLflow folder (weights + JSON config, no pickle) at ``path``."""
    # lazy: torch (importing scanflow.models must not load it)
    from .torch_model import TorchModel

    return TorchModel(module, init_kwargs=init_kwargs, **kwargs).save(path)


def load_torch_folder(path: str | os.PathLike[str], **trust: Any) -> Any:
    """The ``nn.Module`` saved at ``path`` (weights only; the class must be trusted)."""
    return load_model_folder(path, **trust).native


def log_torch_model(module: Any, name: str = "model", registered_model_name: str | None = None,
                    init_kwargs: dict[str, Any] | None = None, run_id: str | None = None,
                    **kwargs: Any) -> str:
    """Log ``module`` to a run (and the registry); returns ``runs:/RUN/name``."""
    # lazy: torch (importing scanflow.models must not load it)
    from .torch_model import TorchModel

    model = TorchModel(module, init_kwargs=init_kwargs, **kwargs)
    return log_model(model, name, run_id=run_id, registered_model_name=registered_model_name).uri


def load_torch_model(model_uri_or_name: str, alias: str | None = None,
                     version: int | str | None = None, **trust: Any) -> Any:
    """The ``nn.Module`` of a logged torch model, e.g. ``load_torch_model("mnist", alias="champion")``."""
    return load_model(model_uri_or_name, alias=alias, version=version, **trust).native


def log_sklearn_model(estimator: Any, name: str = "model", registered_model_name: str | None = None,
                      run_id: str | None = None, input_example: Any = None) -> str:
    """Log a fitted estimator (skops format, no pickle) to a run; returns its URI."""
    return log_model(estimator, name, run_id=run_id, registered_model_name=registered_model_name,
                     input_example=input_example).uri


def load_sklearn_model(model_uri_or_name: str, alias: str | None = None,
                       trusted: list[str] | None = None, **trust: Any) -> Any:
    """The estimator of a logged scikit-learn model (``trusted``: extra skops types)."""
    return load_model(model_uri_or_name, alias=alias, trusted_types=tuple(trusted or ()),
                      **trust).native

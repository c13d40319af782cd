"""Writing and reading MLflow model folders: the ``MLmodel`` file, its flavors and its signature.

Scanflow writes standard MLflow model folders — an ``MLmodel`` file with a ``python_function``
flavor (so ``mlflow.pyfunc.load_model`` and ``mlflow models serve`` work), the native flavor,
the input signature, ``requirements.txt`` and ``python_env.yaml`` — with explicit requirements
(inferring them makes MLflow import the model in a subprocess, ~20 s).
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .trust import ModelLoadError

__all__ = ["pinned", "read_mlmodel", "write_mlmodel"]


def pinned(*packages: str) -> list[str]:
    """``package==version`` of each installed package (missing ones are left out)."""
    pins = []
    for package in packages:
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            continue
    return pins


def write_mlmodel(path: str | Path, *, loader_module: str, data: str, flavor: str,
                  flavor_conf: dict[str, Any], signature: Any, requirements: list[str],
                  metadata: dict[str, Any] | None = None) -> Path:
    """Write ``MLmodel`` (+ environment files) into the model folder ``path``."""
    # lazy: mlflow (importing scanflow.models must not load it)
    from mlflow.models import Model
    from mlflow.pyfunc import add_to_model  # lazy: as above
    from mlflow.utils.environment import _PythonEnv  # lazy: as above

    folder = Path(path)
    (folder / "requirements.txt").write_text("\n".join(requirements) + "\n")
    env = _PythonEnv(python=".".join(map(str, sys.version_info[:3])), build_dependencies=["pip"],
                     dependencies=["-r requirements.txt"])
    env.to_yaml(str(folder / "python_env.yaml"))
    model = Model(signature=signature, metadata={"scanflow": "1", **(metadata or {})})
    add_to_model(model, loader_module=loader_module, data=data, python_env="python_env.yaml")
    model.add_flavor(flavor, **flavor_conf)
    model.save(str(folder / "MLmodel"))
    return folder


def read_mlmodel(path: str | Path):
    """The ``mlflow.models.Model`` of a model folder (a clear error when it is not one)."""
    # lazy: mlflow (importing scanflow.models must not load it)
    from mlflow.models import Model

    file = Path(path) / "MLmodel"
    if not file.is_file():
        raise ModelLoadError(f"{path} is not an MLflow model folder (no MLmodel file); log the "
                             "model with scanflow.models.log_model or mlflow.<flavor>.log_model")
    return Model.load(str(file))

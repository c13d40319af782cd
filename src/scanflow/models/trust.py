"""What loading a model may run: nothing of the file's choosing unless the user opted in.

Three rules, one per way a model file could make Python run code:

* **torch architectures.** A Scanflow torch model is a ``state_dict`` (read with
  ``torch.load(weights_only=True)``) plus the name of its ``nn.Module`` class and its keyword
  arguments. The class is built only when it is *trusted*: Scanflow's own architectures,
  ``torch.nn`` layers, classes registered with :func:`register_architecture` (the user's code
  says so), names passed as ``trusted_architectures=``, or listed in
  ``$SCANFLOW_TRUSTED_ARCHITECTURES`` (comma-separated ``pkg.mod:Class`` or ``pkg.mod:*``).
  A file naming any other class is refused before its module is imported.
* **scikit-learn through skops.** A skops file lists the types it needs. Scanflow trusts the
  classes of scikit-learn, scipy.sparse, numpy (dtypes, scalars, ufuncs) and of Scanflow itself
  — library code, not code of the file's choosing — except the types skops marks as unsafe to
  trust by default (``sklearn.tree._tree.Tree`` and HistGradientBoosting's ``TreePredictor``:
  their node indices are used without bounds checks, so a crafted file can crash the process).
  Those, and any type of another package, must be named by the user for the model they load:
  ``trusted_types=``, ``trusted_types:`` in the application's ``models`` settings, or
  ``$SCANFLOW_TRUSTED_TYPES``. The trusted list written inside the file is never used.
* **pickles** (MLflow's ``cloudpickle`` / ``pickle`` formats, any other flavor that unpickles)
  load only when the user opts in for that model: ``allow_pickle=True``, or MLflow's own switch
  ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true``.

Example:
    >>> import torch
    >>> resolve_architecture("torch.nn.modules.linear:Linear") is torch.nn.Linear
    True
    >>> resolve_architecture("evil.module:Payload")
    Traceback (most recent call last):
    ...
    scanflow.models.trust.UntrustedModelError: the model names the class evil.module:Payload, which is not trusted: building it would run its code. If you trust it, register it (scanflow.models.register_architecture(Payload)), pass trusted_architectures=['evil.module:Payload'], or set SCANFLOW_TRUSTED_ARCHITECTURES=evil.module:Payload
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import ScanflowError

__all__ = [
    "ModelLoadError",
    "UntrustedModelError",
    "architecture_name",
    "check_pickle_allowed",
    "register_architecture",
    "resolve_architecture",
    "skops_trusted_types",
]

#: Module prefixes whose classes are library code, not a file's choice.
_TORCH_LIBRARY = ("torch.nn.modules.",)
_SKOPS_LIBRARY = ("sklearn.", "scipy.sparse.", "numpy.", "scanflow.")
#: Library classes that read or write files when built: never trusted implicitly.
_NEVER = ("numpy.memmap", "numpy.lib.format", "numpy.lib.npyio", "numpy.load", "numpy.fromfile")

_ARCHITECTURES: dict[str, type] = {}


class ModelLoadError(ScanflowError, ValueError):
    """A model could not be loaded (bad folder, unknown format, missing file)."""


class UntrustedModelError(ModelLoadError):
    """Loading the model would run code it names, and the user has not trusted it."""


def architecture_name(cls: type) -> str:
    """``"pkg.module:Qualname"`` of a class: what a saved torch model records."""
    return f"{cls.__module__}:{cls.__qualname__}"


def register_architecture(cls: type | None = None, *, name: str | None = None):
    """Trust an ``nn.Module`` class for loading (usable as a decorator).

    Classes defined in ``__main__`` cannot be rebuilt in another process: define them in a module.
    """

    def add(klass: type) -> type:
        if klass.__module__ == "__main__":
            raise ModelLoadError(
                f"{klass.__qualname__} is defined in __main__: move it to an importable module "
                "so that the model can be rebuilt where it is loaded")
        _ARCHITECTURES[name or architecture_name(klass)] = klass
        return klass

    return add(cls) if cls is not None else add


def _env_list(variable: str) -> list[str]:
    return [p.strip() for p in os.environ.get(variable, "").split(",") if p.strip()]


def _matches(spec: str, patterns: Iterable[str]) -> bool:
    module = spec.partition(":")[0]
    for pattern in patterns:
        if pattern == spec or (pattern.endswith(":*") and pattern[:-2] == module):
            return True
    return False


def _import(spec: str) -> type:
    """The class ``spec`` names, walking classes only: ``pkg.mod:Outer.Inner`` resolves, while
    ``pkg.mod:torch.hub.load`` (a function reached through a module the file imports) does not."""
    module, _, qualname = spec.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
        if not isinstance(obj, type) or part.startswith("__"):
            raise UntrustedModelError(
                f"the model names {spec}, which is not a class: only an nn.Module class can be "
                "rebuilt from a model file")
    return obj


def _check_module_class(spec: str, cls: type) -> type:
    """``cls`` if it is an ``nn.Module`` defined where ``spec`` says (not re-exported there)."""
    # lazy: torch, needed only by torch models (importing scanflow.models must not load it)
    import torch

    if not issubclass(cls, torch.nn.Module) or architecture_name(cls) != spec:
        raise UntrustedModelError(
            f"the model names {spec}, which is {architecture_name(cls)}"
            f"{'' if issubclass(cls, torch.nn.Module) else ', not an nn.Module'}: only the "
            "nn.Module class a model was saved with can be rebuilt")
    return cls


def resolve_architecture(spec: str, trusted: Iterable[str] = ()) -> type:
    """The class a saved model names, if it is trusted (see the module docstring)."""
    if not isinstance(spec, str) or ":" not in spec:
        raise ModelLoadError(f"the model names the class {spec!r}: expected 'pkg.module:Class'")
    module = spec.partition(":")[0]
    if spec not in _ARCHITECTURES and module.startswith("scanflow."):
        try:  # Scanflow's own modules register their architectures
            importlib.import_module(module)
        except ImportError as exc:
            raise ModelLoadError(f"the model names {spec}, but Scanflow has no module {module}") from exc
    if spec in _ARCHITECTURES:
        return _ARCHITECTURES[spec]
    allowed = module.startswith(_TORCH_LIBRARY) or _matches(
        spec, [*trusted, *_env_list("SCANFLOW_TRUSTED_ARCHITECTURES")])
    if not allowed:
        cls = spec.rpartition(":")[2]
        raise UntrustedModelError(
            f"the model names the class {spec}, which is not trusted: building it would run its "
            f"code. If you trust it, register it (scanflow.models.register_architecture({cls})), "
            f"pass trusted_architectures=[{spec!r}], or set SCANFLOW_TRUSTED_ARCHITECTURES={spec}")
    try:
        return _check_module_class(spec, _import(spec))
    except UntrustedModelError:
        raise
    except (ImportError, AttributeError, ValueError) as exc:
        raise ModelLoadError(f"cannot import the model class {spec}: {exc} (install the package "
                             "that defines it, or put its folder on sys.path)") from exc


def _is_library_type(name: str) -> bool:
    # lazy: skops, needed only by scikit-learn models
    from skops.io.exceptions import UNTRUSTED_TYPE_REASONS

    if not name.startswith(_SKOPS_LIBRARY) or name.startswith(_NEVER):
        return False
    if name in UNTRUSTED_TYPE_REASONS:
        return False
    module, _, attr = name.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        return False
    return isinstance(obj, (type, np.ufunc))


def skops_trusted_types(path: str, trusted: Iterable[str] = ()) -> list[str]:
    """The types of the skops file ``path`` to trust: library classes and the user's ``trusted``.

    Raises :class:`UntrustedModelError` naming any other type the file needs.
    """
    # lazy: skops, needed only by scikit-learn models
    import skops.io

    extra = {*trusted, *_env_list("SCANFLOW_TRUSTED_TYPES")}
    needed = skops.io.get_untrusted_types(file=path)
    ok = [t for t in needed if t in extra or _is_library_type(t)]
    refused = [t for t in needed if t not in ok]
    if refused:
        # lazy: skops, needed only by scikit-learn models
        from skops.io.exceptions import UNTRUSTED_TYPE_REASONS

        why = "".join(f" {UNTRUSTED_TYPE_REASONS[t].split(' If you')[0]}" for t in refused
                      if t in UNTRUSTED_TYPE_REASONS)
        raise UntrustedModelError(
            f"the scikit-learn model needs types Scanflow does not trust by default: "
            f"{', '.join(refused)}.{why} If you trust this model's source, pass "
            f"trusted_types={refused!r}, list them under models: trusted_types in the "
            f"application, or set SCANFLOW_TRUSTED_TYPES={','.join(refused)}")
    return ok


def check_pickle_allowed(what: str, allow_pickle: bool) -> None:
    """Refuse to unpickle unless the user opted in for this model (or set MLflow's switch)."""
    env = os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "").lower() in ("1", "true", "yes")
    if not (allow_pickle or env):
        raise UntrustedModelError(
            f"{what} is stored as a pickle, and unpickling runs code of the file's choosing. "
            "Load it only if you trust its source: pass allow_pickle=True for this model "
            "(`--allow-pickle` on the CLI, `allow_pickle: true` in the service parameters), or "
            "set MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true. Better: log it again in the skops "
            "format (scanflow.models.log_model does).")

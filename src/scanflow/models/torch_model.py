"""PyTorch classifiers of any input shape behind the model interface, and their MLflow flavor.

:class:`TorchModel` wraps an ``nn.Module`` that maps a float batch to logits: images
``(n, C, H, W)`` in ``[0, 1]`` (any size, any channel count; uint8 inputs are divided by 255)
or feature rows ``(n, d)`` (a table's columns in schema order, or a tensor). Normalisation
belongs inside the module, so the served model needs nothing but itself.

Saved as an MLflow model folder with the flavors ``scanflow_torch`` and ``python_function``::

    MLmodel              flavors + signature
    data/weights.pt      the state_dict, read with torch.load(weights_only=True)
    data/model.json      {"format": "scanflow.torch/2", "architecture": "pkg.mod:Class",
                          "init_kwargs": {...}, "schema": {...}, "classes": [...]}

The module is rebuilt as ``Class(**init_kwargs)`` only when the class is trusted
(:mod:`scanflow.models.trust`); its constructor arguments come from ``init_kwargs=``, else from
the module's ``init_kwargs`` attribute or ``get_config()``.

Example:
    >>> import numpy as np, torch
    >>> net = torch.nn.Linear(4, 3)
    >>> m = TorchModel(net, init_kwargs={"in_features": 4, "out_features": 3})
    >>> m.predict_proba(np.zeros((2, 4))).shape, m.kind
    ((2, 3), 'table')
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .base import ModelAdapter
from .mlflow_folder import pinned, write_mlmodel
from .schema import InputSchema
from .torch_training import batched_logits, train_module
from .trust import ModelLoadError, architecture_name, resolve_architecture

__all__ = ["FLAVOR", "FORMAT", "TorchModel", "read_torch_folder"]

FLAVOR = "scanflow_torch"
FORMAT = "scanflow.torch/2"
LEGACY_FORMAT = "scanflow.torch/1"
DATA = "data"


def _init_kwargs(module: torch.nn.Module, given: dict[str, Any] | None) -> dict[str, Any] | None:
    if given is not None:
        return dict(given)
    kwargs = getattr(module, "init_kwargs", None)
    if kwargs is None and callable(getattr(module, "get_config", None)):
        kwargs = module.get_config()
    return None if kwargs is None else dict(kwargs)


class TorchModel(ModelAdapter):
    """An ``nn.Module`` classifier (see the module docstring)."""

    flavor = FLAVOR
    can_fit = True

    def __init__(self, module: torch.nn.Module, *, schema: InputSchema | None = None,
                 classes: Any = None, init_kwargs: dict[str, Any] | None = None):
        super().__init__(module, schema=schema, classes=classes)
        self.init_kwargs = _init_kwargs(module, init_kwargs)

    @property
    def module(self) -> torch.nn.Module:
        return self.native

    def tensor(self, X: Any) -> torch.Tensor:
        """``X`` as the float tensor the module takes."""
        inputs = self.inputs(X)
        if hasattr(inputs, "to_numpy"):
            inputs = inputs.to_numpy(dtype=np.float32)
        return torch.from_numpy(np.array(inputs, dtype=np.float32))  # a writable copy

    def logits(self, X: Any) -> torch.Tensor:
        return batched_logits(self.module, self.tensor(X))

    def _predict_proba(self, inputs: Any) -> np.ndarray:
        if hasattr(inputs, "to_numpy"):
            inputs = inputs.to_numpy(dtype=np.float32)
        x = torch.from_numpy(np.array(inputs, dtype=np.float32))
        return torch.softmax(batched_logits(self.module, x), dim=1).numpy()

    # ------------------------------------------------------------------ improvement
    def fit_more(self, X: Any, y: Any, *, seed: int = 0, epochs: int = 2, lr: float = 1e-3,
                 batch_size: int = 64, augment: Any = None, sample_weight: Any = None,
                 transform: torch.nn.Module | None = None, from_scratch: bool = False,
                 **_: Any) -> TorchModel:
        """A copy of the module fine-tuned on ``(X, y)`` (``from_scratch``: a new one).

        ``augment`` (default: on for images) jitters samples by small affine moves; a boolean
        array marks which ones.
        """
        if self.classes_ is None:
            self.predict_proba(X[:1] if hasattr(X, "__getitem__") else X)
        x = self.tensor(X)
        target = torch.as_tensor(self.label_index(y), dtype=torch.long)
        if augment is None:
            augment = self.kind == "image"
        torch.manual_seed(seed)  # a fresh network's initial weights come from the seed too
        net = self._fresh() if from_scratch else copy.deepcopy(self.module)
        train_module(net, x, target, epochs=epochs, lr=lr, batch_size=batch_size, augment=augment,
                     sample_weight=sample_weight, transform=transform, seed=seed,
                     warmup=0.2 if from_scratch else 0.05)
        return self.with_native(net)

    def with_native(self, native: torch.nn.Module,
                    init_kwargs: dict[str, Any] | None = None) -> TorchModel:
        """The adapter around another module (a fine-tuned copy, a wrapped classifier...)."""
        clone = super().with_native(native)
        same = type(native) is type(self.module)
        clone.init_kwargs = _init_kwargs(native, init_kwargs) or (self.init_kwargs if same else None)
        return clone

    def _fresh(self) -> torch.nn.Module:
        if self.init_kwargs is None:
            raise ModelLoadError(f"cannot build a new {type(self.module).__name__}: its "
                                 "constructor arguments are unknown (pass init_kwargs=)")
        return type(self.module)(**self.init_kwargs)

    # ------------------------------------------------------------------ persistence
    def config(self) -> dict[str, Any]:
        if self.init_kwargs is None:
            name = type(self.module).__name__
            raise ModelLoadError(f"pass init_kwargs= (the arguments of {name}(...)) or give the "
                                 "model an `init_kwargs` dict attribute or a get_config() method")
        classes = None if self.classes_ is None else [c.item() if isinstance(c, np.generic) else c
                                                      for c in self.classes_]
        return {"format": FORMAT, "architecture": architecture_name(type(self.module)),
                "init_kwargs": self.init_kwargs, "classes": classes,
                "schema": None if self.schema is None else self.schema.to_dict(),
                "torch_version": torch.__version__}

    def save(self, path: str | Path) -> Path:
        if type(self.module).__module__ == "__main__":
            raise ModelLoadError(f"model class {type(self.module).__name__} is defined in "
                                 "__main__: move it to an importable module so that it can be "
                                 "rebuilt when the model is loaded")
        config = self.config()
        folder = Path(path)
        data = folder / DATA
        data.mkdir(parents=True, exist_ok=True)
        torch.save(self.module.state_dict(), data / "weights.pt")
        (data / "model.json").write_text(json.dumps(config, indent=2))
        signature = None if self.schema is None else self.schema.to_signature()
        write_mlmodel(folder, loader_module="scanflow.models.torch_model", data=DATA,
                      flavor=FLAVOR, flavor_conf={"format": FORMAT, "data": DATA,
                                                  "architecture": config["architecture"]},
                      signature=signature, requirements=pinned("torch", "numpy", "mlflow"))
        return folder


def _read_config(folder: Path) -> dict[str, Any]:
    for name in ("model.json", "scanflow_model.json"):
        if (folder / name).is_file():
            try:
                config = json.loads((folder / name).read_text())
            except (OSError, ValueError) as exc:
                raise ModelLoadError(f"{folder / name} cannot be read as JSON: {exc}") from exc
            if not isinstance(config, dict):
                raise ModelLoadError(f"{folder / name} is not a JSON object")
            return config
    raise ModelLoadError(f"{folder} holds no Scanflow torch model (no model.json)")


def read_torch_folder(path: str | Path, *, trusted_architectures: tuple[str, ...] = (),
                      map_location: str = "cpu") -> TorchModel:
    """Rebuild a saved torch model (this format or the older ``scanflow.torch/1`` folder)."""
    folder = Path(path)
    if (folder / DATA).is_dir():
        folder = folder / DATA
    config = _read_config(folder)
    if config.get("format") not in (FORMAT, LEGACY_FORMAT):
        raise ModelLoadError(f"{folder} is not a Scanflow torch model (format {config.get('format')!r})")
    spec = config.get("architecture") or config.get("class")
    cls = resolve_architecture(spec, trusted_architectures)
    kwargs = config.get("init_kwargs") or config.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise ModelLoadError(f"{folder}: init_kwargs must be a JSON object, not {type(kwargs).__name__}")
    module = cls(**kwargs)
    state = torch.load(folder / "weights.pt", map_location=map_location, weights_only=True)
    module.load_state_dict(state)
    module.eval()
    schema = InputSchema.from_dict(config["schema"]) if config.get("schema") else None
    return TorchModel(module, schema=schema, classes=config.get("classes"),
                      init_kwargs=config.get("init_kwargs") or config.get("kwargs"))


class _PyfuncTorch:
    """What ``mlflow.pyfunc.load_model`` returns for a Scanflow torch model: labels per sample."""

    def __init__(self, model: TorchModel):
        self.model = model

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> np.ndarray:
        if (params or {}).get("output") == "proba":
            return self.model.predict_proba(model_input)
        return self.model.predict(model_input)

    def get_raw_model(self) -> torch.nn.Module:
        return self.model.module


def _load_pyfunc(data_path: str) -> _PyfuncTorch:
    """MLflow's pyfunc entry point (``loader_module``): weights only, trusted classes only."""
    return _PyfuncTorch(read_torch_folder(data_path))

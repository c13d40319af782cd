"""The model a service is serving, and how a newly promoted one replaces it without a failed request.

A :class:`ModelSlot` holds one :class:`LoadedModel`. Requests read the reference once, at their
start, and use that object to the end, so a swap never changes a model under a running request.
A new champion is loaded completely (read, prepared, one warm-up call) *before* the reference
is replaced under a lock; a model that fails to load is never swapped in and the old one keeps
serving.

Where models come from is a :class:`ModelSource`: :class:`RegistryModelSource` follows a
registry alias (``champion``) of the MLflow model registry and loads any flavor through
:func:`scanflow.models.load_model` (a :class:`~scanflow.models.ModelAdapter`), under the trust
settings it was given; :class:`StaticModelSource` serves a model object given from Python (a
notebook, a benchmark)::

    >>> import torch
    >>> slot = ModelSlot(StaticModelSource(torch.nn.Identity(), name="identity"))
    >>> slot.refresh()
    True
    >>> slot.get().name, slot.get().version
    ('identity', '1')
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from scanflow.models import UntrustedModelError, load_model
from scanflow.track import get_alias_version, get_client

log = logging.getLogger(__name__)

__all__ = ["LoadedModel", "ModelSlot", "ModelSource", "RegistryModelSource", "StaticModelSource"]


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to predict, with where it came from (``model``: what the slot's ``prepare``
    made of the loaded object; a :class:`~scanflow.models.ModelAdapter` in a prediction service)."""

    name: str
    version: str | None
    model: Any
    alias: str | None = None
    loaded_at: float = field(default_factory=time.time)


class ModelSource(Protocol):
    """Where a slot finds its model: the version to serve now, and how to load one version."""

    name: str
    alias: str | None

    def current_version(self) -> str | None:
        """The version that should be served now (``None``: nothing to serve yet)."""

    def load(self, version: str) -> Any:
        """Load that version completely and return the model object."""


class StaticModelSource:
    """Serves model objects handed over from Python; :meth:`set` publishes a new version."""

    def __init__(self, model: Any = None, *, name: str = "model", version: str = "1"):
        self.name = name
        self.alias = None
        self._models: dict[str, Any] = {}
        self._version: str | None = None
        if model is not None:
            self.set(model, version)

    def set(self, model: Any, version: str | None = None) -> str:
        """Make ``model`` the one to serve; returns its version (incremented when not given)."""
        if version is None:
            version = str(len(self._models) + 1)
        self._models[version] = model
        self._version = version
        return version

    def current_version(self) -> str | None:
        return self._version

    def load(self, version: str) -> Any:
        try:
            return self._models[version]
        except KeyError:
            raise LookupError(f"model {self.name!r} has no version {version!r}") from None


class RegistryModelSource:
    """Follows ``alias`` of registered model ``name`` in the MLflow registry at ``tracking_uri``.

    Each version is read by :func:`scanflow.models.load_model` (any flavor: Scanflow's torch
    models, scikit-learn, any pyfunc) under the trust settings given here — ``trusted_types``
    (extra skops types), ``trusted_architectures`` (torch classes), ``allow_pickle`` — see
    :mod:`scanflow.models.trust`. ``load_model`` reads the tracker from ``$MLFLOW_TRACKING_URI``,
    so a given ``tracking_uri`` is exported there (one serving process serves one application).
    """

    def __init__(self, name: str, *, alias: str = "champion", tracking_uri: str | None = None,
                 trusted_types: Sequence[str] = (), trusted_architectures: Sequence[str] = (),
                 allow_pickle: bool = False):
        self.name = name
        self.alias = alias
        self.tracking_uri = tracking_uri
        self.trusted_types = tuple(trusted_types)
        self.trusted_architectures = tuple(trusted_architectures)
        self.allow_pickle = bool(allow_pickle)
        if tracking_uri:
            os.environ["MLFLOW_TRACKING_URI"] = tracking_uri

    def _client(self):
        return get_client(self.tracking_uri)

    def current_version(self) -> str | None:
        version = get_alias_version(self.name, self.alias, client=self._client())
        return None if version is None else str(version)

    def load(self, version: str) -> Any:
        """The adapter of that version (a refusal names the setting that would trust it)."""
        try:
            return load_model(self.name, version=version, trusted_types=self.trusted_types,
                              trusted_architectures=self.trusted_architectures,
                              allow_pickle=self.allow_pickle)
        except UntrustedModelError as exc:
            raise UntrustedModelError(_with_serve_hint(str(exc))) from exc


def _with_serve_hint(message: str) -> str:
    """A loader's refusal, plus the ``scanflow serve`` option and service parameter that trust it."""
    for option, key in (("--trust-architecture", "trusted_architectures"),
                        ("--trust-type", "trusted_types")):
        found = re.search(key + r"=\[([^\]]*)\]", message)
        if found:
            names = [n.strip(" '\"") for n in found.group(1).split(",") if n.strip()]
            flags = " ".join(f"{option} {n}" for n in names)
            return (f"{message}. To serve it: `scanflow serve ... {flags}`, or "
                    f"{key}: [{', '.join(names)}] in the service parameters")
    return message  # the pickle refusal already names --allow-pickle and allow_pickle


class ModelSlot:
    """Holds the served model and swaps in a new version atomically.

    ``prepare`` turns a freshly loaded model into the object to serve (the prediction service
    wraps it in its adapter and checks it against the detector); ``warmup`` is then called on
    it before it is swapped in (run one prediction there, so the first request on the new model
    is not the one paying for lazy initialisation). An error in either keeps the old model.
    ``poll_interval`` (seconds) is how often :meth:`start`'s watcher asks the source for a new
    version; :meth:`refresh` asks at once (the planner agent or ``POST /model/reload`` call it).
    """

    def __init__(
        self,
        source: ModelSource,
        *,
        poll_interval: float = 2.0,
        warmup: Callable[[Any], Any] | None = None,
        prepare: Callable[[Any], Any] | None = None,
    ):
        self.source = source
        self.poll_interval = poll_interval
        self.warmup = warmup
        self.prepare = prepare
        self._current: LoadedModel | None = None
        self._swap_lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.swaps_: list[dict[str, Any]] = []
        self.last_error_: str | None = None

    def get(self) -> LoadedModel:
        """The model to use for one request (read once; keep the object for the whole request)."""
        current = self._current
        if current is None:
            raise LookupError(
                f"no model to serve: {self.source.name!r} has no version"
                + (f" with alias {self.source.alias!r}" if self.source.alias else "")
                + "; train and register one (e.g. `scanflow demo` or `scanflow run APP`)"
            )
        return current

    @property
    def ready(self) -> bool:
        return self._current is not None

    def refresh(self) -> bool:
        """Load and swap in the source's current version if it differs; True when it swapped."""
        with self._load_lock:  # one load at a time; requests are never blocked by it
            try:
                version = self.source.current_version()
            except Exception as exc:  # registry unreachable: keep serving what we have
                self.last_error_ = f"cannot read the current version: {exc}"
                log.warning(self.last_error_)
                return False
            current = self._current
            if version is None or (current is not None and current.version == version):
                return False
            started = time.perf_counter()
            try:
                model = self.source.load(version)
                if self.prepare is not None:
                    model = self.prepare(model)
                if self.warmup is not None:
                    self.warmup(model)
            except Exception as exc:
                self.last_error_ = f"cannot load {self.source.name!r} version {version}: {exc}"
                log.warning("%s; still serving version %s", self.last_error_,
                            current.version if current else None)
                return False
            loaded = LoadedModel(self.source.name, version, model, alias=self.source.alias)
            with self._swap_lock:
                self._current = loaded
            self.last_error_ = None
            self.swaps_.append(
                {
                    "from_version": current.version if current else None,
                    "to_version": version,
                    "at": loaded.loaded_at,
                    "load_seconds": time.perf_counter() - started,
                }
            )
            log.info("serving %s version %s", self.source.name, version)
            return True

    def start(self) -> ModelSlot:
        """Load the current version now and watch the source for new ones in a thread."""
        self.refresh()
        if self._thread is None and self.poll_interval > 0:
            self._stop.clear()
            self._thread = threading.Thread(target=self._watch, name="scanflow-model-watch", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_interval):
            self.refresh()

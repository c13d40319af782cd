"""What agents use from the rest of Scanflow: one typed :class:`AgentServices` object.

It is built once per runtime (:meth:`AgentServices.for_app`), every part declared by a
``Protocol`` here, so that a missing part fails at start-up and tests inject small real
implementations instead of monkeypatching (the way httpx takes a transport):

============  ====================================  =============================================
field         protocol                              default
============  ====================================  =============================================
registry      :class:`Registry`                     :class:`scanflow.track.MlflowRegistry`
labels        :class:`LabelQueue`                   :class:`scanflow.improve.labels.LabelStore`
                                                    (``<state>/labels.db``)
runner        :class:`Runner`                       :class:`scanflow.run.WorkflowRunner`
runs          :class:`RunsSource`                   :class:`scanflow.track.MlflowRuns`
predictions   :class:`Predictions`                  the prediction log in the state database
============  ====================================  =============================================

>>> services = AgentServices(registry=None, labels=None, runner=None, runs=None, predictions=None)
>>> services.replace(runs="x").runs
'x'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from scanflow.improve.labels import LabelStore
from scanflow.run import WorkflowRunner
from scanflow.track import MlflowRegistry, MlflowRuns, get_client, tracking_uri
from scanflow.track.store import registry_uri

if TYPE_CHECKING:
    from scanflow.app import Application

    from .store import StateStore

__all__ = ["AgentServices", "LabelQueue", "Predictions", "Registry", "Runner", "RunsSource"]


class Registry(Protocol):
    """The model registry: which version is champion, promotion and rollback."""

    def champion_version(self, model: str) -> str | None: ...

    def promote(self, model: str, version: str) -> str | None: ...

    def rollback(self, model: str) -> str: ...

    def versions_tagged(self, key: str, value: str) -> list[Any]: ...

    def set_tag(self, model: str, version: str, key: str, value: Any) -> None: ...


class LabelQueue(Protocol):
    """Where samples wait for a person (or an oracle) to label them."""

    def enqueue(self, samples: Any, *, batch: str, meta: Sequence[dict] | None = None,
                model_guess: Sequence[Any] | None = None, scores: Sequence[float] | None = None,
                classes: Sequence[Any] | None = None) -> list[int]: ...

    def has_batch(self, batch: str) -> bool: ...

    def labeled(self, batch: str | None = None) -> tuple[Any, Any, Any]: ...

    def progress(self, batch: str | None = None) -> dict[str, Any]: ...

    def batch_progress(self) -> dict[str, dict[str, int]]: ...


class Runner(Protocol):
    """Runs a workflow (or one executor) of the application; resumes an interrupted run."""

    def run(self, app: Any, *, workflow: str, node: str | None = None,
            parameters: dict[str, Any] | None = None,
            note: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]: ...

    def resume(self, app: Any, run_id: str, *, workflow: str, node: str | None = None,
               parameters: dict[str, Any] | None = None) -> dict[str, Any] | None: ...


class RunsSource(Protocol):
    """Finished tracking runs of an experiment after a time (ms), oldest first."""

    def finished_runs(self, experiment: str, after_ms: float) -> list[dict[str, Any]]: ...


class Predictions(Protocol):
    """The prediction log the serving layer (or a batch feed) writes and agents read."""

    def record_predictions(self, service: str, inputs: Any, predictions_: Sequence[Any],
                           **details: Any) -> list[int]: ...

    def predictions_since(self, cursor: int, limit: int | None = None,
                          service: str | None = None) -> list[Any]: ...

    def predictions_between(self, first_id: int, last_id: int,
                            service: str | None = None) -> list[Any]: ...

    def prediction_window(self, last_id: int, size: int | None = None,
                          seconds: float | None = None, service: str | None = None) -> list[Any]: ...

    def prediction_inputs(self, ids: Sequence[int]) -> Any: ...


@dataclass(frozen=True)
class AgentServices:
    """The parts agents use (see the module docstring); build with :meth:`for_app`."""

    registry: Registry
    labels: LabelQueue
    runner: Runner
    runs: RunsSource
    predictions: Predictions

    def replace(self, **parts: Any) -> AgentServices:
        """A copy with some parts replaced (``None`` values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in parts.items() if v is not None})

    @classmethod
    def for_app(cls, app: Application | None, store: StateStore, *,
                label_store: str | None = None, **given: Any) -> AgentServices:
        """The default parts for ``app`` (a part passed in ``given`` is used instead)."""
        unknown = sorted(set(given) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise TypeError(f"AgentServices has no part {unknown[0]!r}; parts: "
                            f"{', '.join(f.name for f in dataclasses.fields(cls))}")
        parts = {k: v for k, v in given.items() if v is not None}
        for name, make in _DEFAULTS.items():
            if name not in parts:
                parts[name] = _Lazy(name, lambda make=make: make(app, store, label_store))
        return cls(**parts)


class _Lazy:
    """A default part, built on first use (opening an MLflow store migrates it: ~2 s)."""

    def __init__(self, name: str, make: Callable[[], Any]):
        self._name, self._make, self._obj = name, make, None

    def __getattr__(self, attr: str) -> Any:
        if self._obj is None:
            self._obj = self._make()
        return getattr(self._obj, attr)

    def __repr__(self) -> str:
        return f"<{self._name}: {'built' if self._obj is not None else 'not built yet'}>"


def label_store_url(app: Application | None, store: StateStore, given: str | None = None) -> str:
    """``given``, else ``<state dir>/labels.db`` (what ``scanflow label`` uses), else the state DB."""
    if given:
        return given
    if app is not None:
        return f"sqlite:///{(app.state_path / 'labels.db').resolve()}"
    return store.url


def _registry(app, store, _):
    return MlflowRegistry(get_client(tracking_uri(app), registry_uri(app)))


def _labels(app, store, url):
    return LabelStore(label_store_url(app, store, url))


def _runner(app, store, _):
    return WorkflowRunner()


def _runs(app, store, _):
    return MlflowRuns(app)


def _predictions(app, store, _):
    return store.predictions  # the PredictionLog (scanflow.track) of the state database


_DEFAULTS: dict[str, Callable[[Any, Any, str | None], Any]] = {
    "registry": _registry, "labels": _labels, "runner": _runner, "runs": _runs,
    "predictions": _predictions,
}

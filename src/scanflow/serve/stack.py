"""Everything ``scanflow serve APP`` serves, in one FastAPI app on the application's state.

    /predict, /predict/batch, /model, /drift, /health   the prediction API (OpenAPI at /docs)
    /dashboard                                          the dashboard
    /label/                                             the labeling UI and its API
    /executors/...                                      run one executor on demand

Where things live (the embedded default; all under ``application.state_path``):

* the champion model: MLflow registry alias ``champion`` of ``model_name`` (tracking URI of the
  application, SQLite by default), followed by the :class:`ModelSlot` (hot swap on promotion);
* the detector for inline flags and background drift: ``detector_path`` (a file saved with
  ``Detector.save``), default ``<state>/detector.npz`` when that file exists; the file is
  followed, so a detector the checker agent extends after a drift episode is swapped in;
* the prediction log (:class:`scanflow.track.PredictionLog`), agent decisions: the state
  database ``<state>/scanflow.db``;
* the labeling queue: ``<state>/labels.db`` (the same default the agents use).

The settings can also come from the application, in the parameters of a service::

    services:
      - name: predict
        parameters: {model: wine, alias: champion, detector: detector.npz, window: 200,
                     trusted_types: [sklearn.tree._tree.Tree], allow_pickle: false}

Any registered model is served (Scanflow's torch flavor, scikit-learn, any pyfunc), read by
:func:`scanflow.models.load_model` under the trust settings ``trusted_types`` (skops types),
``trusted_architectures`` (torch classes) and ``allow_pickle``: those of the service parameters
plus those given here (``scanflow serve --trust-type / --trust-architecture / --allow-pickle``).
``input_schema`` (a :class:`~scanflow.models.InputSchema` or its ``to_dict()``) is the input of a
model logged without a signature.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import RedirectResponse

from scanflow.agents.store import StateStore, default_state_url
from scanflow.improve.labels import LabelStore
from scanflow.models import InputSchema
from scanflow.run import list_runs
from scanflow.security import require_token
from scanflow.track import PredictionLog, tracking_uri
from scanflow.webapi import add_openapi_hook, install

from .dashboard import Dashboard
from .detector_watch import DetectorWatch
from .executors import executor_router
from .labeling import create_labeling_router
from .model_slot import ModelSlot, RegistryModelSource
from .predict import PredictionService

log = logging.getLogger(__name__)

__all__ = ["ServeStack", "prediction_settings", "trust_settings"]


def prediction_settings(application: Any) -> dict[str, Any]:
    """The prediction service's settings from the application (the first service naming a model)."""
    for svc in application.services:
        if "model" in svc.parameters:
            return {"service": svc.name, **svc.parameters}
    return {}


def _names(conf: dict[str, Any], key: str) -> list[str]:
    value = conf.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"services[{conf.get('service', 'predict')}].parameters.{key} is "
                         f"{value!r}: give a list of names, e.g. {key}: [pkg.module.Class]")
    return value


def trust_settings(conf: dict[str, Any], *, trusted_types: Sequence[str] = (),
                   trusted_architectures: Sequence[str] = (), allow_pickle: bool = False) -> dict[str, Any]:
    """The trust settings of the model loader: the service parameters' plus the given ones.

    >>> trust_settings({"trusted_types": ["a.B"]}, trusted_types=["c.D"], allow_pickle=False)
    {'trusted_types': ('a.B', 'c.D'), 'trusted_architectures': (), 'allow_pickle': False}
    """
    pickle = conf.get("allow_pickle", False)
    if not isinstance(pickle, bool):
        raise ValueError(f"services[{conf.get('service', 'predict')}].parameters.allow_pickle is "
                         f"{pickle!r}: use true or false")
    return {
        "trusted_types": tuple(dict.fromkeys([*_names(conf, "trusted_types"), *trusted_types])),
        "trusted_architectures": tuple(dict.fromkeys(
            [*_names(conf, "trusted_architectures"), *trusted_architectures])),
        "allow_pickle": bool(allow_pickle or pickle),
    }


def _model_name(application: Any, name: str | None) -> str:
    """The model to serve; an application that names none is refused with how to name one."""
    if not name:
        raise ValueError(
            f"model: application {application.name!r} names no model to serve; pass "
            "--model NAME or add a service with parameters {model: NAME}"
        )
    return name


def _input_schema(value: Any):
    if value is None or not isinstance(value, dict):
        return value
    try:
        return InputSchema.from_dict(value)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"input_schema {value!r} is not a schema ({exc}): e.g. {{kind: image, "
                         "shape: [1, 28, 28], layout: HW, dtype: uint8}") from None


def _window(given: int | None, conf: dict[str, Any]) -> int:
    """Inputs per background drift check: ``given``, else the service's ``window`` (or its
    deprecated spelling ``drift_window``), else 200."""
    if given is not None:
        return int(given)
    return int(conf.get("window", conf.get("drift_window", 200)))


class ServeStack:
    """The services of one application, built on its state directory.

    Parameters override the application's service parameters (see the module docstring); the
    trust settings add to them. ``accuracy`` is an optional callable plotted on the dashboard.
    """

    def __init__(
        self,
        application: Any,
        *,
        model_name: str | None = None,
        alias: str | None = None,
        detector: Any = None,
        detector_path: str | Path | None = None,
        state_url: str | None = None,
        label_store_url: str | None = None,
        window: int | None = None,
        drift_window: int | None = None,
        poll_interval: float = 2.0,
        service_name: str | None = None,
        mlflow_url: str | None = None,
        accuracy: Callable[[], list[dict[str, Any]]] | None = None,
        token: str | None = None,
        trusted_types: Sequence[str] = (),
        trusted_architectures: Sequence[str] = (),
        allow_pickle: bool = False,
        input_schema: Any = None,
    ):
        self.application = application
        self.detector_file: Path | None = None
        conf = prediction_settings(application)
        self.model_name = _model_name(application, model_name or conf.get("model"))
        self.alias = alias or conf.get("alias", "champion")
        self.service_name = service_name or conf.get("service", "predict")
        self.token = token
        self._open_stores(state_url, label_store_url)
        self.detector, detector_name = self._detector(detector, detector_path or conf.get("detector"))
        self.detector_watch = None
        self.trust = trust_settings(conf, trusted_types=trusted_types,
                                    trusted_architectures=trusted_architectures,
                                    allow_pickle=allow_pickle)
        window = _window(window if window is not None else drift_window, conf)
        source = RegistryModelSource(self.model_name, alias=self.alias,
                                     tracking_uri=self.tracking_uri, **self.trust)
        self.slot = ModelSlot(source, poll_interval=poll_interval)
        self.prediction = PredictionService(
            self.slot, detector=self.detector, drift_window=window, prediction_log=self.predictions,
            service_name=self.service_name, detector_name=detector_name,
            input_schema=_input_schema(input_schema or conf.get("input_schema")),
            check=conf.get("check", "deferred"),
        )
        self.dashboard = self._dashboard(accuracy, mlflow_url)
        if self.detector_file is not None:
            self.detector_watch = DetectorWatch(self.detector_file, self.prediction.swap_detector,
                                                poll_interval=poll_interval)
        self.api = self._build_api()

    def _open_stores(self, state_url: str | None, label_store_url: str | None) -> None:
        """The tracking URI, the state database (decisions, prediction log) and the label queue."""
        state = self.application.state_path
        state.mkdir(parents=True, exist_ok=True)
        self.tracking_uri = tracking_uri(self.application)
        url = state_url or default_state_url(self.application)
        self.state = StateStore(url)
        self.predictions = PredictionLog(url)
        self.labels = LabelStore(label_store_url or f"sqlite:///{(state / 'labels.db').resolve()}")

    def _dashboard(self, accuracy, mlflow_url: str | None) -> Dashboard:
        """The dashboard over this stack's stores, runs and prediction service."""
        return Dashboard(
            self.application, state=self.state, labels=self.labels, prediction=self.prediction,
            model_name=self.model_name, tracking_uri=self.tracking_uri,
            node_statuses=self.node_statuses, runs=self.runs, accuracy=accuracy,
            label_url="/label/", mlflow_url=mlflow_url,
        )

    def _detector(self, detector: Any, path: str | Path | None) -> tuple[Any, str | None]:
        """The detector given, or read from ``path`` (default ``<state>/detector.npz``), and its name."""
        if detector is not None:
            return detector, None
        state, root = self.application.state_path, self.application.root
        if path is None and (state / "detector.npz").is_file():
            path = state / "detector.npz"
        if path is None:
            return None, None
        from scanflow.check import Detector  # lazy: loads SciPy; needed only with a detector file

        path = Path(path)
        if not path.is_absolute():
            path = (root / path) if (root / path).exists() else state / path
        self.detector_file = path
        return Detector.load(path), path.name

    # -- sources for the dashboard ------------------------------------------------------------
    def node_statuses(self) -> dict[str, str]:
        """The latest known status of every executor (newest run that ran it wins)."""
        out: dict[str, str] = {}
        for run in list_runs(self.application.state_path):
            alive = run.effective_status()
            for node_id, status in run.statuses().items():
                if status == "running" and alive == "interrupted":
                    status = "cancelled"
                out.setdefault(node_id, status)
        return out

    def runs(self) -> list[dict[str, Any]]:
        rows = []
        for run in list_runs(self.application.state_path)[:15]:
            d = run.data
            end = d.get("finished_at")
            rows.append({
                "run_id": run.run_id, "workflow": d.get("workflow") or "+".join(d.get("workflows") or []),
                "status": run.effective_status(), "start_time": d.get("created_at"),
                "duration": (end - d["created_at"]) if end and d.get("created_at") else None,
                "nodes": run.statuses(),
            })
        return rows

    # -- the app ------------------------------------------------------------------------------
    def _build_api(self) -> FastAPI:
        service = self.prediction
        watch = self.detector_watch

        @asynccontextmanager
        async def lifespan(_app: FastAPI):
            service.start()
            if watch is not None:
                watch.start()
            try:
                yield
            finally:
                if watch is not None:
                    watch.stop()
                service.stop()

        api = FastAPI(
            title=f"Scanflow — {self.application.name}",
            description="Prediction API with inline checking, dashboard, labeling and executors.",
            lifespan=lifespan,
            dependencies=[Depends(require_token)],
            docs_url=None, redoc_url=None, openapi_url=None,
        )
        install(api)
        add_openapi_hook(api, service.describe_inputs)
        api.state.scanflow_token = self.token
        api.state.prediction = service
        api.state.stack = self
        api.include_router(service.router())
        api.include_router(self.dashboard.router())
        api.include_router(create_labeling_router(self.labels), prefix="/label")
        api.include_router(executor_router(self.application))

        @api.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse("/dashboard")

        return api

"""One replica of a replicated prediction service: what it serves, and the app it builds.

:class:`ReplicaSettings` says what every replica serves — the registered model and the alias it
follows, the detector file, the drift window, the prediction log, the trust settings, the
token — as plain values, so that they travel to the replicas (Ray Serve processes, on any node
of the cluster). :func:`replica_settings` reads them from an application as ``scanflow serve``
does. :func:`build_replica_app` is what runs in each replica: the same prediction app as a
single server (:func:`~scanflow.serve.predict.create_prediction_app`, same routes, schemas and
errors), whose model slot follows the registry alias on its own (each replica hot-swaps the new
champion, without a failed request, within ``poll_interval`` seconds of a promotion), and whose
drift window is the one of all replicas (:mod:`scanflow.serve.drift_aggregate`). Added routes
and headers:

    GET /replicas             the aggregate drift window and what each replica reported
    X-Scanflow-Replica        response header: the replica that answered
    POST /model/reload        as a single server's, and every other replica reloads too (within
                              its next shipment to the aggregate, 0.25 s)

Files named here (the detector, a SQLite registry or state database) must be readable at the
same path on every node: shared storage, or the tracking and state servers of a cluster.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, Field

from .detector_watch import DetectorWatch
from .drift_aggregate import AggregateDriftFeed
from .model_slot import ModelSlot, RegistryModelSource
from .predict import PredictionService, create_prediction_app

log = logging.getLogger(__name__)

__all__ = ["REPLICA_HEADER", "ReplicaSettings", "ReplicasOut", "build_replica_app", "replica_settings"]

REPLICA_HEADER = "X-Scanflow-Replica"


@dataclass
class ReplicaSettings:
    """What each replica serves (plain values: they are shipped to the replicas)."""

    model: str
    alias: str = "champion"
    tracking_uri: str | None = None
    trust: dict[str, Any] = field(default_factory=dict)
    detector_path: str | None = None
    window: int = 200
    poll_interval: float = 2.0
    state_url: str | None = None
    service_name: str = "predict"
    input_schema: dict[str, Any] | None = None
    token: str | None = None
    micro_batch: int = 32
    replicas: int = 1
    replica_cpus: float = 1.0


class ReplicaOut(BaseModel):
    replica: str
    model_version: str | None = Field(None, description="the version this replica serves")
    requests: int = 0
    samples: int = 0
    drift_samples: int = Field(0, description="its samples in the aggregate drift window")
    swaps: int = 0
    reported_at: float | None = None


class ReplicasOut(BaseModel):
    """``GET /replicas``: the drift window of all replicas, and each replica's last report."""

    window: int | None
    drift_samples: int = Field(description="samples of all replicas fed to the drift window")
    windows: int = Field(description="drift windows checked so far")
    dropped: int = 0
    replicas: list[ReplicaOut]


def _prediction_spec(application: Any) -> Any:
    """The application's prediction service (the first service naming a model), or None."""
    return next((s for s in application.services if "model" in s.parameters), None)


def replica_settings(application: Any, *, model_name: str | None = None, alias: str | None = None,
                     detector_path: str | Path | None = None, window: int | None = None,
                     poll_interval: float = 2.0, state_url: str | None = None,
                     token: str | None = None, replicas: int | None = None,
                     replica_cpus: float | None = None, trusted_types: tuple[str, ...] = (),
                     trusted_architectures: tuple[str, ...] = (),
                     allow_pickle: bool = False) -> ReplicaSettings:
    """The settings of ``scanflow serve APP --backend ray``: the arguments given, else the
    prediction service's parameters (``model``, ``alias``, ``detector``, ``window``, trust
    settings), its ``replicas`` and ``resources.cpu``, else the defaults of a single server."""
    # lazy: the stores load SQLAlchemy and the agents; a replica never resolves settings
    from scanflow.agents.store import default_state_url
    from scanflow.track import PredictionLog, tracking_uri

    from .stack import _input_schema, _model_name, _window, prediction_settings, trust_settings

    conf = prediction_settings(application)
    spec = _prediction_spec(application)
    url = state_url or default_state_url(application)
    application.state_path.mkdir(parents=True, exist_ok=True)
    PredictionLog(url)  # the schema is created once here, not by N replicas at once
    schema = _input_schema(conf.get("input_schema"))
    return ReplicaSettings(
        model=_model_name(application, model_name or conf.get("model")),
        alias=alias or conf.get("alias", "champion"), tracking_uri=tracking_uri(application),
        trust=trust_settings(conf, trusted_types=trusted_types,
                             trusted_architectures=trusted_architectures, allow_pickle=allow_pickle),
        detector_path=_detector_file(application, detector_path or conf.get("detector")),
        window=_window(window, conf), poll_interval=poll_interval, state_url=url,
        service_name=conf.get("service", "predict"), token=token,
        input_schema=None if schema is None else schema.to_dict(),
        replicas=replicas or (spec.replicas if spec is not None else 1),
        replica_cpus=replica_cpus or _spec_cpus(spec),
    )


def _spec_cpus(spec: Any) -> float:
    cpu = getattr(getattr(spec, "resources", None), "cpu", None)
    return float(cpu) if cpu else 1.0


def _detector_file(application: Any, path: str | Path | None) -> str | None:
    """The detector file, absolute (as :class:`~scanflow.serve.stack.ServeStack` finds it)."""
    state, root = application.state_path, application.root
    if path is None:
        default = state / "detector.npz"
        return str(default.resolve()) if default.is_file() else None
    path = Path(path)
    if not path.is_absolute():
        path = (root / path) if (root / path).exists() else state / path
    if not path.is_file():
        raise FileNotFoundError(f"detector: no file {path}; fit one with `scanflow check ... --save FILE`")
    return str(path.resolve())


# -- in each replica ---------------------------------------------------------------------------
def _status(service: PredictionService) -> dict[str, Any]:
    """What a replica reports to the aggregate with each shipment."""
    current = service.slot._current
    return {"model_version": None if current is None else current.version,
            "requests": service.n_requests_, "samples": service.n_samples_,
            "swaps": len(service.slot.swaps_)}


def _service(settings: ReplicaSettings) -> PredictionService:
    """The replica's prediction service, reading the registry and files the settings name."""
    # lazy: the model registry, the state store and SciPy load only in a replica
    from scanflow.models import InputSchema
    from scanflow.track import PredictionLog

    from .drift_aggregate import _load_detector

    source = RegistryModelSource(settings.model, alias=settings.alias,
                                 tracking_uri=settings.tracking_uri, **settings.trust)
    path = settings.detector_path
    return PredictionService(
        ModelSlot(source, poll_interval=settings.poll_interval),
        detector=_load_detector(path) if path else None, drift_window=0,
        prediction_log=PredictionLog(settings.state_url) if settings.state_url else None,
        service_name=settings.service_name, detector_name=Path(path).name if path else None,
        input_schema=InputSchema.from_dict(settings.input_schema) if settings.input_schema else None,
        micro_batch=settings.micro_batch,
    )


def build_replica_app(settings: ReplicaSettings, call: Any, replica: str) -> FastAPI:
    """The prediction app of one replica named ``replica``; ``call(method, *args)`` reaches the
    :class:`~scanflow.serve.drift_aggregate.DriftAggregate` of all replicas."""
    service = _service(settings)
    service.drift = AggregateDriftFeed(  # type: ignore[assignment]  (the same interface)
        call, replica=replica, status=lambda: _status(service),
        window=settings.window if settings.detector_path and settings.window else None,
        on_reload=service.slot.refresh)
    service.after_reload = lambda: call("request_reload")  # POST /model/reload reaches every replica
    app = create_prediction_app(service, title="Scanflow prediction API (replicated)")
    app.state.scanflow_token = settings.token
    app.include_router(_replicas_router(call))
    if settings.detector_path:
        app.state.detector_watch = DetectorWatch(settings.detector_path, service.swap_detector,
                                                 poll_interval=settings.poll_interval).start()

    @app.middleware("http")
    async def name_the_replica(request: Request, call_next):
        response = await call_next(request)
        response.headers[REPLICA_HEADER] = replica
        return response

    return app


def _replicas_router(call: Any) -> APIRouter:
    router = APIRouter(tags=["monitoring"])

    @router.get("/replicas", response_model=ReplicasOut,
                summary="The drift window of all replicas and what each replica serves")
    def replicas() -> ReplicasOut:
        status = call("status")
        rows = [ReplicaOut(replica=name, **{k: v for k, v in info.items() if k in ReplicaOut.model_fields})
                for name, info in sorted(status["replicas"].items())]
        return ReplicasOut(window=status["window"], drift_samples=status["drift_samples"],
                           windows=status["windows"], dropped=status["dropped"], replicas=rows)

    return router

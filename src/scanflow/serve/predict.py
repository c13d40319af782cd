"""The prediction API: single and batch predictions with inline outlier flags.

:class:`PredictionService` ties together the served model (a :class:`ModelSlot` that follows
the registry's ``champion`` alias and hot-swaps new versions), an optional fitted detector that
flags each input inline, a :class:`DriftMonitor` that runs windowed drift checks in a background
thread, and an optional prediction log (what the tracker agent reads). Its :meth:`router` holds
the endpoints; :func:`create_prediction_app` wraps it in a FastAPI app whose OpenAPI docs are at
``/docs``.

Endpoints::

    POST /predict          one image   -> label, probabilities, outlier flag, model version
    POST /predict/batch    many images -> the same per image
    GET  /model            the served model and its swaps;  POST /model/reload  check now
    GET  /drift            the drift windows checked so far
    GET  /health

Example (in a notebook, with any torch classifier of 28x28 images)::

    >>> import torch
    >>> from fastapi.testclient import TestClient
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    >>> service = PredictionService(ModelSlot(StaticModelSource(net, name="digits")))
    >>> with TestClient(create_prediction_app(service)) as client:
    ...     r = client.post("/predict", json={"image": [[0] * 28] * 28})
    >>> r.status_code, r.json()["model"]["name"]
    (200, 'digits')
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from fastapi import APIRouter, FastAPI, HTTPException

from .drift_monitor import DriftMonitor
from .model_slot import LoadedModel, ModelSlot, StaticModelSource
from .schemas import (
    BatchPredictRequest,
    BatchPredictResponse,
    ModelInfo,
    OutlierFlag,
    Prediction,
    PredictRequest,
    PredictResponse,
    decode_batch,
    decode_image,
    input_error,
)

log = logging.getLogger(__name__)

__all__ = ["PredictionService", "create_prediction_app", "default_predict_fn", "serve_model"]


def default_predict_fn(model: Any, X: np.ndarray) -> np.ndarray:
    """Class probabilities of uint8 images with Scanflow's classifier helpers."""
    from scanflow.improve.classifier import predict_proba

    return predict_proba(model, X)


def _outlier_scores(detector: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-sample ``(is_outlier, score, threshold)`` from a fitted instance-level detector.

    Reads the per-sample part of the detector's :class:`~scanflow.check.CheckResult`
    (``is_outlier``, ``instance_scores``, ``instance_threshold``).
    """
    result = detector.predict(X)
    if result.is_outlier is None or result.instance_scores is None:
        raise TypeError(
            f"detector {result.detector!r} gives no per-sample scores; inline flags need an "
            "instance-level detector such as scanflow.check.AutoencoderDetector"
        )
    scores = np.asarray([np.nan if s is None else s for s in result.instance_scores], dtype=float)
    threshold = result.instance_threshold if result.instance_threshold is not None else np.nan
    return np.asarray(result.is_outlier, dtype=bool), scores, float(threshold)


class PredictionService:
    """Predicts with the slot's model, flags outliers inline, feeds drift checks and the log.

    Parameters
    ----------
    slot:
        Holds the served model (see :class:`ModelSlot`); :meth:`start` loads it and watches for
        a new champion.
    detector:
        A fitted detector scoring each input (``None``: no inline flags; the response's
        ``outlier`` is then absent). Its windowed drift test runs in the background every
        ``drift_window`` samples (``drift_window=0`` turns that off).
    prediction_log:
        Where each request's inputs and predictions are recorded for the tracker and checker
        agents: a :class:`scanflow.agents.store.StateStore` (its ``record_predictions``), under
        ``service_name``. ``None`` keeps nothing. Each prediction's row id is returned to the
        client as ``prediction_id`` (the handle to give its true label later).
    input_shape:
        The shape of one input; requests of another shape get a 422 naming it.
    max_batch:
        The most images one ``/predict/batch`` request may carry.
    predict_fn:
        ``predict_fn(model, X_uint8) -> probabilities (n, k)``; default
        :func:`default_predict_fn` (torch classifiers of :mod:`scanflow.improve.classifier`).
    """

    def __init__(
        self,
        slot: ModelSlot,
        *,
        detector: Any = None,
        drift_window: int = 200,
        prediction_log: Any = None,
        input_shape: Sequence[int] = (28, 28),
        max_batch: int = 1024,
        predict_fn: Callable[[Any, np.ndarray], np.ndarray] | None = None,
        service_name: str = "predict",
    ):
        self.slot = slot
        self.detector = detector
        self.drift_window = drift_window
        self.prediction_log = prediction_log
        self.input_shape = tuple(int(s) for s in input_shape)
        self.max_batch = max_batch
        self.predict_fn = predict_fn or default_predict_fn
        self.service_name = service_name
        self.drift: DriftMonitor | None = None
        if detector is not None and drift_window:
            self.drift = DriftMonitor(detector, window=drift_window)
        self._counter = itertools.count()
        self._counter_lock = threading.Lock()
        self.n_requests_ = 0
        self.n_samples_ = 0
        self.log_errors_: list[str] = []

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> PredictionService:
        """Load the current model, watch for new versions and start the drift thread."""
        if self.slot.warmup is None:
            self.slot.warmup = self._warmup
        self.slot.start()
        if self.drift is not None:
            self.drift.start()
        return self

    def stop(self) -> None:
        self.slot.stop()
        if self.drift is not None:
            self.drift.stop()
            self.drift.flush()

    def _warmup(self, model: Any) -> None:
        self.predict_fn(model, np.zeros((1, *self.input_shape), dtype=np.uint8))

    # -- the work ----------------------------------------------------------------------------
    def _next_indices(self, n: int) -> int:
        with self._counter_lock:
            first = self.n_samples_
            self.n_samples_ += n
            self.n_requests_ += 1
        return first

    def predict(
        self,
        X: np.ndarray,
        *,
        ids: Sequence[str | None] | None = None,
    ) -> tuple[LoadedModel, int, list[Prediction]]:
        """Predict ``X`` (uint8 ``(n, *input_shape)``); returns (model used, first index, predictions)."""
        served = self.slot.get()  # read once: a swap during this request does not affect it
        probs = np.asarray(self.predict_fn(served.model, X), dtype=np.float64)
        flags = None
        if self.detector is not None:
            flags = _outlier_scores(self.detector, X)
        first = self._next_indices(len(X))
        labels_hat = probs.argmax(axis=1)
        preds = []
        for i in range(len(X)):
            outlier = None
            if flags is not None:
                outlier = OutlierFlag(
                    is_outlier=bool(flags[0][i]), score=float(flags[1][i]), threshold=float(flags[2])
                )
            preds.append(
                Prediction(
                    id=ids[i] if ids else None,
                    label=int(labels_hat[i]),
                    confidence=float(probs[i, labels_hat[i]]),
                    probabilities=[round(float(p), 6) for p in probs[i]],
                    outlier=outlier,
                )
            )
        share = None if flags is None else float(np.mean(flags[0]))
        if self.drift is not None:
            self.drift.add(X, outlier_share=share, model_version=served.version)
        ids_logged = self._record(X, served, labels_hat, probs, flags)
        if ids_logged is not None:
            for pred, pid in zip(preds, ids_logged, strict=True):
                pred.prediction_id = int(pid)
        return served, first, preds

    def _record(self, X, served, labels_hat, probs, flags) -> list[int] | None:
        if self.prediction_log is None:
            return None
        try:
            return self.prediction_log.record_predictions(
                self.service_name,
                X,
                [int(v) for v in labels_hat],
                model=served.name,
                model_version=served.version,
                confidences=probs.max(axis=1).tolist(),
                outlier_scores=None if flags is None else flags[1].tolist(),
                is_outlier=None if flags is None else flags[0].tolist(),
            )
        except Exception as exc:  # recording must never fail a prediction
            self.log_errors_.append(str(exc))
            log.warning("could not record %d predictions: %s", len(X), exc)
            return None

    # -- HTTP --------------------------------------------------------------------------------
    def model_info(self, served: LoadedModel) -> ModelInfo:
        return ModelInfo(
            name=served.name, version=served.version, alias=served.alias, loaded_at=served.loaded_at
        )

    def router(self) -> APIRouter:
        """The prediction endpoints, to mount in any FastAPI app."""
        router = APIRouter(tags=["prediction"])
        svc = self

        def served_or_503() -> None:
            if not svc.slot.ready:
                try:
                    svc.slot.get()
                except LookupError as exc:
                    raise HTTPException(status_code=503, detail=str(exc)) from exc

        @router.post("/predict", response_model=PredictResponse, summary="Predict one image")
        def predict_one(req: PredictRequest) -> PredictResponse:
            """Classify one image; ``outlier`` flags it against the detector's threshold."""
            given = [k for k in ("image", "image_b64") if getattr(req, k) is not None]
            if len(given) != 1:
                raise input_error(
                    ("body", "image"),
                    "send exactly one of 'image' (nested lists) or 'image_b64' (base64 of raw "
                    f"uint8), got {' and '.join(given) or 'neither'}",
                )
            field = given[0]
            X = decode_image(getattr(req, field), shape=svc.input_shape, loc=("body", field))[None]
            served_or_503()
            served, first, preds = svc.predict(X, ids=[req.id] if req.id else None)
            return PredictResponse(
                **preds[0].model_dump(), model=svc.model_info(served), request_id=first
            )

        @router.post("/predict/batch", response_model=BatchPredictResponse, summary="Predict a batch")
        def predict_batch(req: BatchPredictRequest) -> BatchPredictResponse:
            """Classify a batch of images (``images`` or ``images_b64``)."""
            given = [k for k in ("images", "images_b64") if getattr(req, k) is not None]
            if len(given) != 1:
                raise input_error(
                    ("body", "images"),
                    "send exactly one of 'images' (a list of nested lists) or 'images_b64' "
                    f"(a list of base64 strings), got {' and '.join(given) or 'neither'}",
                )
            field = given[0]
            values = getattr(req, field)
            X = decode_batch(values, shape=svc.input_shape, field=field, max_batch=svc.max_batch)
            if req.ids is not None and len(req.ids) != len(X):
                raise input_error(
                    ("body", "ids"), f"{len(req.ids)} ids for {len(X)} images; send one per image"
                )
            served_or_503()
            served, first, preds = svc.predict(X, ids=req.ids)
            n_out = None
            if preds and preds[0].outlier is not None:
                n_out = sum(p.outlier.is_outlier for p in preds if p.outlier is not None)
            return BatchPredictResponse(
                predictions=preds, model=svc.model_info(served), n_outliers=n_out, request_id=first
            )

        @router.get("/model", summary="The served model and its swaps")
        def model() -> dict[str, Any]:
            current = svc.slot._current
            return {
                "model": None if current is None else svc.model_info(current).model_dump(),
                "source": {"name": svc.slot.source.name, "alias": svc.slot.source.alias},
                "swaps": svc.slot.swaps_,
                "last_error": svc.slot.last_error_,
            }

        @router.post("/model/reload", summary="Check for a new model version now")
        def reload() -> dict[str, Any]:
            swapped = svc.slot.refresh()
            current = svc.slot._current
            return {
                "swapped": swapped,
                "version": None if current is None else current.version,
                "error": svc.slot.last_error_,
            }

        @router.get("/drift", summary="Drift checks of the served traffic, window by window")
        def drift() -> dict[str, Any]:
            if svc.drift is None:
                return {"window": None, "windows": []}
            return {
                "window": svc.drift.window,
                "windows": [r.to_dict() for r in svc.drift.results()],
                "dropped": svc.drift.dropped_,
            }

        @router.get("/health", summary="Liveness and readiness")
        def health() -> dict[str, Any]:
            current = svc.slot._current
            return {
                "status": "ok" if current is not None else "no-model",
                "model_version": None if current is None else current.version,
                "requests": svc.n_requests_,
                "samples": svc.n_samples_,
            }

        return router


def create_prediction_app(service: PredictionService, *, title: str = "Scanflow prediction API") -> FastAPI:
    """A FastAPI app serving ``service`` (started and stopped with the app)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(title=title, lifespan=lifespan)
    app.include_router(service.router())
    app.state.prediction = service
    return app


def serve_model(model: Any, *, name: str = "model", **kwargs: Any) -> PredictionService:
    """A service for a model object (no registry): ``create_prediction_app(serve_model(net))``."""
    return PredictionService(ModelSlot(StaticModelSource(model, name=name), poll_interval=0), **kwargs)

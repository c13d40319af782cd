"""The prediction API: single and batch predictions of any served model, with inline outlier flags.

:class:`PredictionService` ties together the served model (a :class:`ModelSlot` that follows
the registry's ``champion`` alias and hot-swaps new versions, of any flavor, each served as a
:class:`~scanflow.models.ModelAdapter`), an optional fitted detector that flags each input
inline, a :class:`DriftMonitor` that runs windowed drift checks in a background thread, and an
optional prediction log (:class:`scanflow.track.PredictionLog`, what the agents read). Its
:meth:`router` holds the endpoints; :func:`create_prediction_app` wraps it in a FastAPI app
whose OpenAPI docs are at ``/docs``.

Endpoints::

    POST /predict          one input   -> label, class index, probabilities, outlier flag, model
                           (the flag with "check": "inline"; by default the input is checked
                           right after the answer: see scanflow.serve.checking)
    POST /predict/batch    many inputs -> the same per input
    GET  /model            the served model: flavor, input schema (what to send), swaps
    POST /model/reload     check for a new version now
    GET  /drift            the drift windows checked so far
    GET  /health

A request carries what the served model takes (:mod:`scanflow.serve.inputs`): table rows as
JSON records (``record`` / ``records``) for a model with named columns; images as nested lists
or base64 (``image`` / ``images``, ``image_b64`` / ``images_b64``) of the shape and layout the
model declares. Example, a scikit-learn model in a notebook::

    >>> import pandas as pd
    >>> from fastapi.testclient import TestClient
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = pd.DataFrame({"alcohol": [12.0, 14.0, 12.5, 13.9], "hue": [1.0, 0.6, 1.1, 0.7]})
    >>> clf = LogisticRegression().fit(X, ["white", "red", "white", "red"])
    >>> with TestClient(create_prediction_app(serve_model(clf, name="wine"))) as client:
    ...     r = client.post("/predict", json={"record": {"alcohol": 13.8, "hue": 0.65}})
    >>> r.status_code, r.json()["label"], r.json()["model"]["name"]
    (200, 'red', 'wine')
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, HTTPException
from fastapi.concurrency import run_in_threadpool

from scanflow.models import InputSchema
from scanflow.security import require_token
from scanflow.webapi import add_openapi_hook, install, responses

from . import allocator
from .batching import MicroBatcher, join_inputs
from .checking import CheckQueue, CheckQueueError
from .drift_monitor import DriftMonitor
from .fast_path import PredictFastPath
from .input_openapi import describe_inputs
from .inputs import how_to_send, request_inputs
from .model_slot import LoadedModel, ModelSlot, StaticModelSource
from .schemas import (
    BatchPredictRequest,
    BatchPredictResponse,
    DriftOut,
    HealthOut,
    InputInfo,
    ModelDetails,
    ModelInfo,
    ModelStatus,
    OutlierFlag,
    Prediction,
    PredictRequest,
    PredictResponse,
    ReloadOut,
    input_error,
)
from .served_model import Answers, DetectorMismatch, answer, as_served, join_answers, sample_input

log = logging.getLogger(__name__)

__all__ = ["CHECK_MODES", "PredictionService", "create_prediction_app", "serve_model"]

# How a request's inputs are checked: right after the answer (default) or before it, in it.
CHECK_MODES = ("deferred", "inline")


def _outlier_scores(detector: Any, X: Any) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-sample ``(is_outlier, score, threshold)`` from a fitted instance-level detector.

    Reads the per-sample part of the detector's :class:`~scanflow.check.CheckResult`
    (``is_outlier``, ``instance_scores``, ``instance_threshold``); a detector calibrated on
    per-sample scores is asked for its scores only (its batch test would be thrown away).
    """
    # lazy: scipy comes with it, and a service without a detector never needs it
    from scanflow.check._calibration import CalibratedScoresMixin

    if isinstance(detector, CalibratedScoresMixin):
        scores = detector.score(X)
        flags = scores > detector.threshold_
        if detector.lower_threshold_ is not None:
            flags |= scores < detector.lower_threshold_
        return flags, scores, float(detector.threshold_)
    result = detector.predict(X)
    if result.is_outlier is None or result.instance_scores is None:
        raise TypeError(
            f"detector {result.detector!r} gives no per-sample scores; inline flags need an "
            "instance-level detector such as scanflow.check.AutoencoderDetector"
        )
    scores = np.asarray([np.nan if s is None else s for s in result.instance_scores], dtype=float)
    threshold = result.instance_threshold if result.instance_threshold is not None else np.nan
    return np.asarray(result.is_outlier, dtype=bool), scores, float(threshold)


def _predictions(answers: Answers, flags: Any, ids: Sequence[str | None] | None,
                 check: str | None = None) -> list[Prediction]:
    """One response item per input (``check``: how its inputs are checked, None: they are not)."""
    proba, index = answers.proba, answers.index
    out = []
    for i, label in enumerate(answers.labels):
        k = None if index is None else int(index[i])
        outlier = None
        if flags is not None:
            outlier = OutlierFlag(is_outlier=bool(flags[0][i]), score=float(flags[1][i]),
                                  threshold=float(flags[2]))
        out.append(Prediction(
            id=ids[i] if ids else None, label=label, class_index=k,
            confidence=None if proba is None else float(proba[i, k]),
            probabilities=None if proba is None else [round(float(p), 6) for p in proba[i]],
            outlier=outlier, check=check,
        ))
    return out


def _input_info(schema: InputSchema | None) -> InputInfo | None:
    if schema is None:
        return None
    d = schema.to_dict()
    return InputInfo(
        kind=schema.kind, description=schema.describe(), dtype=d.get("dtype"),
        layout=schema.layout, shape=d.get("shape"), sample_shape=list(schema.sample_shape),
        columns=d.get("columns"), send=how_to_send(schema),
    )


class PredictionService:
    """Predicts with the slot's model, flags outliers inline, feeds drift checks and the log.

    Parameters
    ----------
    slot:
        Holds the served model (see :class:`ModelSlot`); :meth:`start` loads it and watches for
        a new champion. Each version is served as a :class:`~scanflow.models.ModelAdapter`
        (objects handed over from Python are wrapped with :func:`scanflow.models.as_model`) and
        requests are checked against its input schema, re-read after every swap.
    detector:
        A fitted detector scoring each input (``None``: no inline flags; the response's
        ``outlier`` is then absent): it receives a DataFrame with the column names for a table
        model, the image array in the schema's layout for an image model. It must be fitted on
        the model's kind of input (else the service refuses to start, naming both). Its windowed
        drift test runs in the background every ``drift_window`` samples (0 turns that off).
    prediction_log:
        Where each request's inputs and predictions are recorded for the tracker and checker
        agents: a :class:`scanflow.track.PredictionLog` (or anything with its
        ``record_predictions``), under ``service_name``. ``None`` keeps nothing. Each
        prediction's row id is returned to the client as ``prediction_id``.
    input_schema:
        The input of a model that declares none (logged without a signature); by default the
        input the detector was fitted on. A model with its own schema ignores it.
    max_batch:
        The most inputs one ``/predict/batch`` request may carry.
    detector_name:
        How errors name the detector (its file, e.g. ``detector.npz``).
    micro_batch, micro_batch_wait:
        Concurrent ``/predict`` requests are answered together, up to ``micro_batch`` inputs
        in one call of the model and the check (1: each alone), and a request waits at most
        ``micro_batch_wait`` seconds for others to join it (see :mod:`scanflow.serve.batching`).
    check:
        When the detector checks the input of a ``/predict`` request, unless the request says
        (its ``check``; ``/predict/batch`` requests are checked inline unless they say):
        ``"deferred"`` (default) right after the answer, in a worker thread that checks what
        the requests answered meanwhile with one call, in order, so the check costs the request
        nothing (its ``outlier`` is null; the scores reach the drift windows and the prediction
        log, and the response carries no ``prediction_id``); ``"inline"`` before answering,
        with the result in the response. Every input is checked once either way.
    check_max_pending, check_wait:
        How many answered inputs may wait for their deferred check (beyond it requests wait
        for the check to catch up: none goes unchecked), and how long (seconds) the first of
        them waits for others to be checked with it. See :mod:`scanflow.serve.checking`.
    keep_freed_memory:
        On :meth:`start`, set glibc's allocator so that the memory a request frees is reused by
        the next instead of being unmapped and faulted in again (a batch of 64 digits: ~29 ms
        → ~20 ms here); see :mod:`scanflow.serve.allocator`. Process-wide; ``False`` leaves
        the allocator alone.
    """

    def __init__(
        self,
        slot: ModelSlot,
        *,
        detector: Any = None,
        drift_window: int = 200,
        prediction_log: Any = None,
        input_schema: InputSchema | None = None,
        max_batch: int = 1024,
        service_name: str = "predict",
        detector_name: str | None = None,
        micro_batch: int = 32,
        micro_batch_wait: float = 0.002,
        check: str = "deferred",
        check_max_pending: int = 4096,
        check_wait: float = 0.05,
        keep_freed_memory: bool = True,
    ):
        if check not in CHECK_MODES:
            raise CheckQueueError(f"check={check!r}: choose 'deferred' (check right after the answer) "
                                  "or 'inline' (the check's result in each response)")
        self.slot = slot
        self.detector = detector
        self.drift_window = drift_window
        self.prediction_log = prediction_log
        self.input_schema = input_schema
        self.max_batch = max_batch
        self.service_name = service_name
        self.detector_name = detector_name
        self.check = check
        self.keep_freed_memory = keep_freed_memory
        self.after_reload: Callable[[], Any] | None = None  # run after POST /model/reload
        self.checks = CheckQueue(self._check_answered, max_pending=check_max_pending, max_wait=check_wait)
        self.drift: DriftMonitor | None = None
        if detector is not None and drift_window:
            self.drift = DriftMonitor(detector, window=drift_window)
        if slot.prepare is None:
            slot.prepare = self._prepare
        if slot.warmup is None:
            slot.warmup = self._warmup
        self._startup_error: Exception | None = None
        self._counter_lock = threading.Lock()
        self.n_requests_ = 0
        self.n_samples_ = 0
        self.log_errors_: list[str] = []
        self.check_errors_: list[str] = []
        self.batcher: MicroBatcher | None = None
        if micro_batch > 1:
            self.batcher = MicroBatcher(self._predict_joined, max_batch=micro_batch, max_wait=micro_batch_wait)

    # -- lifecycle ---------------------------------------------------------------------------
    def load(self) -> bool:
        """Load the source's current version now (True when it swapped one in).

        Nothing to serve yet, or a version that fails to load, is not an error here (the API
        answers 503 with the reason until a version loads); a detector that cannot check the
        model is, while no model is served: the service cannot start as configured.
        """
        swapped = self.slot.refresh()
        error, self._startup_error = self._startup_error, None
        if error is not None and not self.slot.ready:
            raise error
        return swapped

    def start(self) -> PredictionService:
        """Load the current model, watch for new versions and start the drift thread."""
        if self.keep_freed_memory:
            allocator.keep_freed_memory()
        self.load()
        self.slot.start()
        if self.drift is not None:
            self.drift.start()
        return self

    def stop(self) -> None:
        self.slot.stop()
        if self.batcher is not None:
            self.batcher.stop()
        self.checks.stop()  # checks what was answered, then the drift windows take the last samples
        if self.drift is not None:
            self.drift.stop()
            self.drift.flush()

    def swap_detector(self, detector: Any) -> None:
        """Check with ``detector`` from now on (inline flags and drift windows alike)."""
        self.detector = detector
        if self.drift is not None:
            self.drift.detector = detector

    def _prepare(self, model: Any) -> Any:
        try:
            return as_served(model, name=self.slot.source.name, input_schema=self.input_schema,
                             detector=self.detector, detector_name=self.detector_name)
        except DetectorMismatch as exc:
            self._startup_error = exc
            raise

    def _warmup(self, model: Any) -> None:
        answer(model, sample_input(model.schema))

    # -- the work ----------------------------------------------------------------------------
    def _next_indices(self, n: int, requests: int) -> int:
        with self._counter_lock:
            first = self.n_samples_
            self.n_samples_ += n
            self.n_requests_ += requests
        return first

    def wait_for_checks(self, timeout: float | None = None) -> bool:
        """Wait until every input answered so far was checked (False: ``timeout`` passed first)."""
        return self.checks.join(timeout)

    def _defers(self, check: str | None) -> bool:
        if check is not None and check not in CHECK_MODES:
            raise CheckQueueError(f"check={check!r}: choose one of {CHECK_MODES}")
        return self.detector is not None and (check or self.check) == "deferred"

    def _flags(self, detector: Any, X: Any) -> tuple[np.ndarray, np.ndarray, float] | None:
        if detector is None:
            return None
        try:
            return _outlier_scores(detector, X)
        except Exception as exc:  # a failing check must not fail the prediction
            self.check_errors_.append(str(exc))
            log.warning("inline check of %d inputs failed: %s", len(X), exc)
            return None

    def predict(
        self,
        X: Any,
        *,
        ids: Sequence[str | None] | None = None,
        served: LoadedModel | None = None,
        requests: int = 1,
        check: str | None = None,
    ) -> tuple[LoadedModel, int, list[Prediction]]:
        """Predict ``X`` (what the model's schema takes: a DataFrame, an image array...) with
        ``served`` (default: the slot's model now); returns (model used, first index, answers).
        ``requests``: how many requests ``X`` joins (for ``/health``); ``check``: ``"inline"``
        or ``"deferred"`` (default: the service's ``check``)."""
        served = served or self.slot.get()  # read once: a swap during this request does not affect it
        answers = answer(served.model, X)
        first = self._next_indices(len(X), requests)
        if self._defers(check):
            self.checks.put(served, len(X), (X, answers))
            return served, first, _predictions(answers, None, ids, check="deferred")
        detector = self.detector  # read once, like the model
        flags = self._flags(detector, X)
        preds = _predictions(answers, flags, ids, check=None if detector is None else "inline")
        ids_logged = self._checked(X, served, answers, detector, flags)
        if ids_logged is not None:
            for pred, pid in zip(preds, ids_logged, strict=True):
                pred.prediction_id = int(pid)
        return served, first, preds

    def _check_answered(self, served: LoadedModel, parts: list[tuple[Any, Answers]]) -> None:
        """The check queue's call: the inputs of requests answered meanwhile, checked at once."""
        X = join_inputs([x for x, _ in parts])
        answers = join_answers([a for _, a in parts])
        detector = self.detector
        flags = self._flags(detector, X)
        start = 0
        for x, _ in parts:  # request by request: a drift window's outlier share is its own samples'
            part = None if flags is None else (flags[0][start:start + len(x)], flags[1][start:start + len(x)], flags[2])
            self._to_drift(x, served, detector, part)
            start += len(x)
        self._record(X, served, answers, flags)

    def _checked(self, X: Any, served: LoadedModel, answers: Answers, detector: Any,
                 flags: Any) -> list[int] | None:
        """Checked inputs to the drift windows (with their scores) and the prediction log."""
        self._to_drift(X, served, detector, flags)
        return self._record(X, served, answers, flags)

    def _to_drift(self, X: Any, served: LoadedModel, detector: Any, flags: Any) -> None:
        if self.drift is not None:
            share = None if flags is None else float(np.mean(flags[0]))
            self.drift.add(X, outlier_share=share, model_version=served.version,
                           scores=None if flags is None else flags[1], scored_by=detector)

    def _record(self, X: Any, served: LoadedModel, answers: Answers, flags: Any) -> list[int] | None:
        if self.prediction_log is None:
            return None
        confidence = answers.confidence
        try:
            return self.prediction_log.record_predictions(
                self.service_name,
                X,
                answers.labels,
                model=served.name,
                model_version=served.version,
                confidences=None if confidence is None else confidence.tolist(),
                outlier_scores=None if flags is None else flags[1].tolist(),
                is_outlier=None if flags is None else flags[0].tolist(),
            )
        except Exception as exc:  # recording must never fail a prediction
            self.log_errors_.append(str(exc))
            log.warning("could not record %d predictions: %s", len(X), exc)
            return None

    # -- HTTP --------------------------------------------------------------------------------
    def served(self) -> LoadedModel:
        """The model for one request, or a 503 saying why there is none."""
        try:
            return self.slot.get()
        except LookupError as exc:
            why = self.slot.last_error_  # a version exists but could not be loaded: say why
            raise HTTPException(status_code=503, detail=f"no model to serve: {why}" if why else str(exc)) from exc

    def answer_request(self, X: Any, field: str, served: LoadedModel,
                       ids: Sequence[str | None] | None,
                       check: str | None = None) -> tuple[LoadedModel, int, list[Prediction]]:
        """:meth:`predict`, with a value the model refuses answered as a 422 naming the field."""
        try:
            return self.predict(X, ids=ids, served=served, check=check)
        except ValueError as exc:  # e.g. a null (NaN) the model cannot take
            raise _refused(field, exc) from exc

    async def answer_one(self, X: Any, field: str, served: LoadedModel,
                         ids: Sequence[str | None] | None,
                         check: str | None = None) -> tuple[LoadedModel, int, list[Prediction]]:
        """:meth:`answer_request` for one input through the micro-batcher: concurrent requests
        share one forward pass; awaited on the event loop (no thread per waiting request)."""
        mode = "deferred" if self._defers(check) else "inline"  # requests of one mode share a batch
        try:
            (first, pred), = await asyncio.wrap_future(self.batcher.submit(X, (served, mode)))
        except ValueError as exc:
            raise _refused(field, exc) from exc
        pred.id = ids[0] if ids else None
        return served, first, [pred]

    def _predict_joined(self, X: Any, key: tuple[LoadedModel, str]) -> list[tuple[int, Prediction]]:
        """The batcher's call: single inputs of concurrent requests, joined; (index, answer) each."""
        served, mode = key
        _, first, preds = self.predict(X, served=served, requests=len(X), check=mode)
        return [(first + i, pred) for i, pred in enumerate(preds)]

    def model_info(self, served: LoadedModel) -> ModelInfo:
        return ModelInfo(
            name=served.name, version=served.version, alias=served.alias, loaded_at=served.loaded_at
        )

    def model_details(self, served: LoadedModel) -> ModelDetails:
        """The served model with its flavor and input schema (what ``GET /model`` shows)."""
        describe = getattr(served.model, "describe", None)
        d = describe() if callable(describe) else {}
        return ModelDetails(
            **self.model_info(served).model_dump(), flavor=d.get("flavor"), native=d.get("native"),
            classes=d.get("classes"), input=_input_info(getattr(served.model, "schema", None)),
        )

    def describe_inputs(self, openapi: dict[str, Any]) -> None:
        """Write the served model's input into an OpenAPI document (see :mod:`.input_openapi`)."""
        try:
            schema = getattr(self.slot.get().model, "schema", None)
        except LookupError:  # no model yet: the generic request bodies stay
            schema = None
        describe_inputs(openapi.get("components", {}).get("schemas", {}), schema, self.max_batch)

    def router(self) -> APIRouter:
        """The prediction endpoints, to mount in any FastAPI app."""
        router = APIRouter(tags=["prediction"])
        _prediction_routes(router, self)
        _model_routes(router, self)
        _status_routes(router, self)
        return router


def _refused(field: str, exc: ValueError) -> Exception:
    return input_error(("body", field), f"the model could not predict on this input: {exc}; "
                       "check the values (GET /model describes the input)")


def _predict_one(svc: PredictionService, req: PredictRequest) -> PredictResponse:
    served = svc.served()
    X, field = request_inputs(req, served.model.schema, batch=False)
    served, first, preds = svc.answer_request(X, field, served, [req.id] if req.id else None, req.check)
    return PredictResponse(**preds[0].model_dump(), model=svc.model_info(served), request_id=first)


async def answer_batched(svc: PredictionService, req: PredictRequest) -> PredictResponse:
    """``POST /predict`` on a micro-batched service: the route's work, awaited on the event loop
    (the FastAPI route and :class:`~scanflow.serve.fast_path.PredictFastPath` both call it)."""
    served = svc.served()
    X, field = request_inputs(req, served.model.schema, batch=False)
    served, first, preds = await svc.answer_one(X, field, served, [req.id] if req.id else None, req.check)
    return PredictResponse(**preds[0].model_dump(), model=svc.model_info(served), request_id=first)


def _prediction_routes(router: APIRouter, svc: PredictionService) -> None:
    @router.post("/predict", response_model=PredictResponse, summary="Predict one input",
                 responses=responses(503))
    async def predict_one(req: PredictRequest) -> PredictResponse:
        """One table row (``record``) or one image (``image`` / ``image_b64``), as ``GET /model``
        describes; ``outlier`` flags it against the detector's threshold when it is checked
        inline (``"check": "inline"``; by default it is checked right after the answer)."""
        if svc.batcher is None:  # the model's call blocks: off the event loop
            return await run_in_threadpool(_predict_one, svc, req)
        return await answer_batched(svc, req)

    @router.post("/predict/batch", response_model=BatchPredictResponse, summary="Predict a batch",
                 responses=responses(503))
    def predict_batch(req: BatchPredictRequest) -> BatchPredictResponse:
        """Table rows (``records``) or images (``images`` / ``images_b64``), one answer each,
        checked inline (``n_outliers``) unless the request says ``"check": "deferred"``."""
        served = svc.served()
        X, field = request_inputs(req, served.model.schema, batch=True, max_batch=svc.max_batch)
        if req.ids is not None and len(req.ids) != len(X):
            raise input_error(
                ("body", "ids"), f"{len(req.ids)} ids for {len(X)} inputs; send one per input"
            )
        # A batch is checked inline unless it asks otherwise: its response reports n_outliers.
        served, first, preds = svc.answer_request(X, field, served, req.ids, req.check or "inline")
        n_out = None
        if preds and preds[0].outlier is not None:
            n_out = sum(p.outlier.is_outlier for p in preds if p.outlier is not None)
        return BatchPredictResponse(
            predictions=preds, model=svc.model_info(served), n_outliers=n_out, request_id=first
        )


def _model_routes(router: APIRouter, svc: PredictionService) -> None:
    @router.get("/model", response_model=ModelStatus, summary="The served model, its input and swaps")
    def model() -> ModelStatus:
        """The served model (flavor, classes, input schema and how to send it) and its swaps."""
        current = svc.slot._current
        return ModelStatus(
            model=None if current is None else svc.model_details(current),
            source={"name": svc.slot.source.name, "alias": svc.slot.source.alias},
            swaps=svc.slot.swaps_,
            last_error=svc.slot.last_error_,
        )

    @router.post("/model/reload", response_model=ReloadOut, summary="Check for a new model version now")
    def reload() -> ReloadOut:
        swapped = svc.slot.refresh()
        if svc.after_reload is not None:  # e.g. the other replicas of a replicated service
            svc.after_reload()
        current = svc.slot._current
        return ReloadOut(swapped=swapped, version=None if current is None else current.version,
                         error=svc.slot.last_error_)


def _status_routes(router: APIRouter, svc: PredictionService) -> None:
    @router.get("/drift", response_model=DriftOut,
                summary="Drift checks of the served traffic, window by window")
    def drift() -> DriftOut:
        if svc.drift is None:
            return DriftOut(window=None, windows=[])
        return DriftOut(window=svc.drift.window, windows=svc.drift.results(),
                        dropped=svc.drift.dropped_, unchecked=svc.checks.pending)

    @router.get("/health", response_model=HealthOut, summary="Liveness and readiness")
    def health() -> HealthOut:
        current = svc.slot._current
        return HealthOut(status="ok" if current is not None else "no-model",
                         model_version=None if current is None else current.version,
                         requests=svc.n_requests_, samples=svc.n_samples_)


def create_prediction_app(service: PredictionService, *, title: str = "Scanflow prediction API",
                          fast_path: bool = True) -> FastAPI:
    """A FastAPI app serving ``service`` (started and stopped with the app).

    ``fast_path``: answer ``POST /predict`` on a micro-batched service without FastAPI's
    per-request machinery (:mod:`scanflow.serve.fast_path`: same validation, same answer, same
    errors; about half of the event loop's time per request under concurrent load)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(title=title, lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(require_token)])
    install(app)
    if fast_path:
        app.add_middleware(PredictFastPath, service=service, answer=answer_batched)
    add_openapi_hook(app, service.describe_inputs)
    app.include_router(service.router())
    app.state.prediction = service
    return app


def serve_model(model: Any, *, name: str = "model", **kwargs: Any) -> PredictionService:
    """A service for a model object (no registry): ``create_prediction_app(serve_model(clf))``.

    ``kwargs`` go to :class:`PredictionService` (``input_schema=`` for a model that declares no
    input schema, ``detector=``...).
    """
    return PredictionService(ModelSlot(StaticModelSource(model, name=name), poll_interval=0), **kwargs)

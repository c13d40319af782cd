"""One drift window for many replicas of the prediction service.

Each replica of a replicated prediction service (:mod:`scanflow.serve.ray_serving`) checks its
inputs inline as a single server does, but the *windowed* drift test must see the traffic of
all replicas together: a shift that reaches each replica at a quarter of the rate is still one
shift. So the replicas do not run their own :class:`DriftMonitor`; each gets an
:class:`AggregateDriftFeed` in its place, which buffers what the service hands over (a list
append on the request path) and ships it, from a background thread, to the one
:class:`DriftAggregate`: a :class:`DriftMonitor` over the joined stream, plus what each replica
last reported (the model version it serves, its request and sample counts).

How the feed reaches the aggregate is a plain callable, ``call(method, *args)`` that runs the
aggregate's method and returns its result: a Ray Serve deployment handle in a cluster, the
object itself in a test::

    >>> import numpy as np
    >>> class MeanShift:
    ...     def predict(self, X):
    ...         return {"is_drift": bool(X.mean() > 100), "score": float(X.mean()), "threshold": 100.0}
    >>> agg = DriftAggregate(detector=MeanShift(), window=4)
    >>> feeds = [AggregateDriftFeed(lambda m, *a: getattr(agg, m)(*a), replica=r, window=4)
    ...          for r in ("a", "b")]
    >>> for feed in feeds:
    ...     feed.add(np.zeros((3, 2), np.uint8), model_version="1"); _ = feed.flush()
    >>> _ = agg.flush(); windows, dropped = agg.results()
    >>> [(w.start, w.end) for w in windows], agg.status()["replicas"]["b"]["drift_samples"]
    ([(0, 4)], 3)
    >>> agg.stop()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .detector_watch import DetectorWatch
from .drift_monitor import DriftMonitor, WindowResult

log = logging.getLogger(__name__)

__all__ = ["AggregateDriftFeed", "DriftAggregate"]

Call = Callable[..., Any]


def _load_detector(path: str | Path) -> Any:
    # lazy: loads SciPy; only a service with a detector needs it
    from scanflow.check import Detector

    return Detector.load(path)


class DriftAggregate:
    """The drift window of all replicas: inputs pushed by :class:`AggregateDriftFeed` s.

    ``detector`` (a fitted detector) or ``detector_path`` (its file, followed: a detector the
    checker agent extends is swapped in, as in a single server) runs the windowed drift test
    every ``window`` samples of the joined stream, in a background thread.
    """

    def __init__(self, detector: Any = None, *, detector_path: str | Path | None = None,
                 window: int = 200, poll_interval: float = 2.0):
        if detector is None and detector_path is not None:
            detector = _load_detector(detector_path)
        self.monitor = DriftMonitor(detector, window=window) if detector is not None else None
        self.replicas: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._reloads = 0  # POST /model/reload calls on any replica: every replica follows
        self.watch = None
        if detector_path is not None and self.monitor is not None:
            self.watch = DetectorWatch(detector_path, self._swap_detector,
                                       poll_interval=poll_interval).start()
        if self.monitor is not None:
            self.monitor.start()

    def _swap_detector(self, detector: Any) -> None:
        if self.monitor is not None:
            self.monitor.detector = detector

    def _replica(self, replica: str) -> dict[str, Any]:
        return self.replicas.setdefault(replica, {"drift_samples": 0, "drift_batches": 0})

    def add(self, replica: str, parts: list[tuple[Any, float | None, str | None]],
            status: dict[str, Any] | None = None) -> dict[str, int]:
        """Queue ``parts`` — ``(inputs, outlier share, model version)`` — from ``replica``, and
        record its ``status``; returns the samples taken and the :meth:`reloads` count (so that
        a replica learns of a reload with its shipment)."""
        n = 0
        for X, share, version in parts:
            if self.monitor is not None:
                self.monitor.add(X, outlier_share=share, model_version=version)
            n += len(X)
        with self._lock:
            entry = self._replica(replica)
            entry["drift_samples"] += n
            entry["drift_batches"] += len(parts)
            if status:
                entry.update(status)
            entry["reported_at"] = time.time()
            return {"taken": n, "reloads": self._reloads}

    def request_reload(self) -> int:
        """A replica was asked to look for a new model version now: so are all the others
        (each learns the count with its next shipment); returns the new count."""
        with self._lock:
            self._reloads += 1
            return self._reloads

    def reloads(self) -> int:
        """How many reloads were requested (a replica reloads when this changes)."""
        return self._reloads

    def results(self) -> tuple[list[WindowResult], int]:
        """The windows checked so far, and the samples dropped (detector slower than traffic)."""
        if self.monitor is None:
            return [], 0
        return self.monitor.results(), self.monitor.dropped_

    def flush(self) -> int:
        """Check every complete window now; returns how many this call ran."""
        return 0 if self.monitor is None else self.monitor.flush()

    def status(self) -> dict[str, Any]:
        """The aggregate window and what each replica last reported."""
        with self._lock:
            replicas = {k: dict(v) for k, v in self.replicas.items()}
        windows, dropped = self.results()
        return {
            "window": None if self.monitor is None else self.monitor.window,
            "drift_samples": sum(r["drift_samples"] for r in replicas.values()),
            "windows": len(windows), "dropped": dropped, "replicas": replicas,
        }

    def stop(self) -> None:
        if self.watch is not None:
            self.watch.stop()
        if self.monitor is not None:
            self.monitor.stop()


class AggregateDriftFeed:
    """What a replica's :class:`PredictionService` uses in place of its :class:`DriftMonitor`.

    :meth:`add` (the request path) appends to a buffer; a thread ships the buffer and the
    replica's ``status()`` to the aggregate every ``ship_every`` seconds. ``max_pending`` bounds
    the buffer while the aggregate is unreachable (the oldest inputs are dropped and counted).
    :meth:`results` reads the aggregate's windows, so the service's ``GET /drift`` reports the
    window of all replicas.
    """

    def __init__(self, call: Call, *, replica: str, window: int,
                 status: Callable[[], dict[str, Any]] | None = None, ship_every: float = 0.25,
                 max_pending: int = 20_000, on_reload: Callable[[], Any] | None = None):
        self.call = call
        self.on_reload = on_reload  # called when any replica was asked to reload
        self._reloads_seen: int | None = None
        self.replica = replica
        self.window = window
        self.status = status
        self.ship_every = ship_every
        self.max_pending = max_pending
        self.detector: Any = None  # set by PredictionService.swap_detector; the aggregate checks
        self._buffer: list[tuple[Any, float | None, str | None]] = []
        self._n = 0
        self._lock = threading.Lock()
        self._ship_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._remote_dropped = 0
        self.local_dropped_ = 0
        self.errors_: list[str] = []

    @property
    def dropped_(self) -> int:
        return self.local_dropped_ + self._remote_dropped

    def add(self, X: Any, outlier_share: float | None = None, model_version: str | None = None,
            *, scores: Any = None, scored_by: Any = None) -> None:
        """Buffer inputs for the aggregate (``DriftMonitor.add``'s signature). The scores of
        the replica's check stay here: the aggregate's detector decides the joined windows on
        the data, since replicas may score with different detector versions."""
        with self._lock:
            self._buffer.append((X, outlier_share, model_version))
            self._n += len(X)
            while self._n > self.max_pending and len(self._buffer) > 1:
                old = self._buffer.pop(0)[0]
                self._n -= len(old)
                self.local_dropped_ += len(old)

    def flush(self) -> int:
        """Ship the buffer (and the status) now; returns the samples shipped."""
        with self._ship_lock:
            with self._lock:
                parts, self._buffer, self._n = self._buffer, [], 0
            status = self.status() if self.status is not None else None
            try:
                reply = self.call("add", self.replica, parts, status)
            except Exception as exc:  # the aggregate is away: keep the inputs for the next try
                self.errors_.append(str(exc))
                log.warning("could not ship %d drift inputs to the aggregate: %s", len(parts), exc)
                with self._lock:
                    self._buffer[:0] = parts
                    self._n += sum(len(p[0]) for p in parts)
                return 0
        self._follow_reloads(reply["reloads"])
        return sum(len(p[0]) for p in parts)

    def results(self) -> list[WindowResult]:
        windows, self._remote_dropped = self.call("results")
        return windows

    def start(self) -> AggregateDriftFeed:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="scanflow-drift-feed", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.ship_every):
            self.flush()

    def _follow_reloads(self, count: int) -> None:
        """Call ``on_reload`` if a replica was asked to reload since the last shipment."""
        seen, self._reloads_seen = self._reloads_seen, count
        if self.on_reload is None or seen == count:
            return
        self.on_reload()  # also at the first shipment: a reload asked while this replica loaded its model

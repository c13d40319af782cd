"""Windowed drift checks that run beside the prediction API, off the request path.

Requests hand their inputs to :meth:`DriftMonitor.add` (a queue append, microseconds); a
background thread cuts the stream into windows of ``window`` samples and runs the detector's
drift test on each. Every result is kept (for the dashboard's drift-over-time plot) and passed
to the ``on_result`` callbacks (the prediction log stores it for the agents). Inputs are what
the detector takes: arrays (images) or DataFrames (table rows, matched by column name).

    >>> import numpy as np
    >>> class MeanShift:                                  # any object with predict(X) -> result
    ...     def predict(self, X):
    ...         return {"is_drift": bool(X.mean() > 100), "score": float(X.mean()), "threshold": 100.0}
    >>> mon = DriftMonitor(MeanShift(), window=4)
    >>> mon.add(np.zeros((8, 2, 2), np.uint8)); mon.flush()
    2
    >>> [r.is_drift for r in mon.results()]
    [False, False]
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from scanflow.models import concat

log = logging.getLogger(__name__)

__all__ = ["DriftMonitor", "WindowResult"]


@dataclass
class WindowResult:
    """The drift check of stream samples ``[start, end)``."""

    window: int
    start: int
    end: int
    is_drift: bool
    score: float
    threshold: float | None
    p_value: float | None = None
    outlier_share: float | None = None
    model_version: str | None = None
    at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rows(X: Any, start: int, stop: int) -> Any:
    """Rows ``[start, stop)`` of an array or a DataFrame (by position)."""
    return X.iloc[start:stop] if hasattr(X, "iloc") else X[start:stop]


def _get(result: Any, key: str, default: Any = None) -> Any:
    if isinstance(result, dict):
        return result.get(key, default)
    return getattr(result, key, default)


class DriftMonitor:
    """Runs ``detector.predict(window)`` on consecutive windows of ``window`` samples in a thread.

    ``detector`` is a fitted :class:`scanflow.check.Detector` whose ``predict`` returns a drift result (``is_drift``, ``score``,
    ``threshold``, optional ``p_value``) — the :class:`scanflow.check.CheckResult` schema.
    ``max_pending`` bounds memory when the detector is slower than the traffic: the oldest
    unchecked samples are dropped (and counted in ``dropped_``), the API never slows down.
    """

    def __init__(
        self,
        detector: Any,
        *,
        window: int = 200,
        max_pending: int = 20_000,
        on_result: list[Callable[[WindowResult], Any]] | None = None,
    ):
        if window < 2:
            raise ValueError(f"window={window}: a drift window needs at least 2 samples")
        self.detector = detector
        self.window = window
        self.max_pending = max_pending
        self.on_result = list(on_result or [])
        self._pending: deque[tuple[Any, float | None, str | None]] = deque()
        self._n_pending = 0
        self._seen = 0  # samples already cut into windows (or dropped)
        self._results: list[WindowResult] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped_ = 0
        self.errors_: list[str] = []

    def add(self, X: Any, outlier_share: float | None = None, model_version: str | None = None) -> None:
        """Queue a batch of inputs for the next windows (cheap: called on the request path)."""
        with self._lock:
            self._pending.append((X, outlier_share, model_version))
            self._n_pending += len(X)
            while self._n_pending > self.max_pending and len(self._pending) > 1:
                old, _, _ = self._pending.popleft()
                self._n_pending -= len(old)
                self._seen += len(old)
                self.dropped_ += len(old)
        if self._n_pending >= self.window:
            self._wake.set()

    def _take_window(self) -> tuple[int, Any, float | None, str | None] | None:
        with self._lock:
            if self._n_pending < self.window:
                return None
            parts, shares, need, version = [], [], self.window, None
            while need:
                X, share, ver = self._pending[0]
                if len(X) <= need:
                    self._pending.popleft()
                    parts.append(X)
                    need -= len(X)
                else:
                    parts.append(_rows(X, 0, need))
                    self._pending[0] = (_rows(X, need, len(X)), share, ver)
                    need = 0
                if share is not None:
                    shares.append((share, len(parts[-1])))
                version = ver
            self._n_pending -= self.window
            start = self._seen
            self._seen += self.window
        share = (sum(s * n for s, n in shares) / sum(n for _, n in shares)) if shares else None
        return start, concat(parts), share, version

    def flush(self) -> int:
        """Check every complete window now; returns how many this call ran (after waiting for any
        check already running in the background thread)."""
        n = 0
        with self._flush_lock:  # waits for a check the background thread is running
            while (item := self._take_window()) is not None:
                start, X, share, version = item
                self._check(start, X, share, version)
                n += 1
        return n

    def _check(self, start: int, X: Any, share: float | None, version: str | None) -> None:
        try:
            res = self.detector.predict(X)
        except Exception as exc:  # a failing detector must not take the API down
            self.errors_.append(f"window at {start}: {exc}")
            log.warning("drift check of window at sample %d failed: %s", start, exc)
            return
        threshold = _get(res, "threshold")
        p_value = _get(res, "p_value")
        result = WindowResult(
            window=start // self.window,
            start=start,
            end=start + len(X),
            is_drift=bool(_get(res, "is_drift", False)),
            score=float(_get(res, "score", float("nan"))),
            threshold=None if threshold is None else float(threshold),
            p_value=None if p_value is None else float(p_value),
            outlier_share=share,
            model_version=version,
        )
        with self._lock:
            self._results.append(result)
        for callback in self.on_result:
            try:
                callback(result)
            except Exception as exc:
                self.errors_.append(f"callback for window at {start}: {exc}")
                log.warning("drift result callback failed: %s", exc)

    def results(self) -> list[WindowResult]:
        with self._lock:
            return list(self._results)

    def start(self) -> DriftMonitor:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="scanflow-drift", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            if not self._stop.is_set():
                self.flush()

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

import numpy as np

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


@dataclass
class _Part:
    """Queued samples: the inputs, their outlier share, the model version, their scores."""

    X: Any
    share: float | None
    version: str | None
    scores: Any = None
    scored_by: Any = None

    def rows(self, start: int, stop: int) -> _Part:
        scores = None if self.scores is None else self.scores[start:stop]
        return _Part(_rows(self.X, start, stop), self.share, self.version, scores, self.scored_by)


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
        self._pending: deque[_Part] = deque()
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

    def add(self, X: Any, outlier_share: float | None = None, model_version: str | None = None,
            *, scores: Any = None, scored_by: Any = None) -> None:
        """Queue a batch of inputs for the next windows (cheap: called on the request path).

        ``scores``: the per-sample scores ``scored_by.score(X)`` gave (the inline check's). A
        window whose samples were all scored by the monitor's detector is decided from them
        (``detector.predict_scores``) instead of running the detector on the window again.
        """
        if scores is not None and (scored_by is None or len(scores) != len(X)):
            scores = None
        with self._lock:
            self._pending.append(_Part(X, outlier_share, model_version, scores, scored_by))
            self._n_pending += len(X)
            while self._n_pending > self.max_pending and len(self._pending) > 1:
                old = self._pending.popleft()
                self._n_pending -= len(old.X)
                self._seen += len(old.X)
                self.dropped_ += len(old.X)
        if self._n_pending >= self.window:
            self._wake.set()

    def _take_window(self) -> tuple[int, list[_Part]] | None:
        with self._lock:
            if self._n_pending < self.window:
                return None
            parts, need = [], self.window
            while need:
                part = self._pending[0]
                if len(part.X) <= need:
                    self._pending.popleft()
                    parts.append(part)
                    need -= len(part.X)
                else:
                    parts.append(part.rows(0, need))
                    self._pending[0] = part.rows(need, len(part.X))
                    need = 0
            self._n_pending -= self.window
            start = self._seen
            self._seen += self.window
        return start, parts

    def flush(self) -> int:
        """Check every complete window now; returns how many this call ran (after waiting for any
        check already running in the background thread)."""
        n = 0
        with self._flush_lock:  # waits for a check the background thread is running
            while (item := self._take_window()) is not None:
                self._check(*item)
                n += 1
        return n

    def _decide(self, parts: list[_Part]) -> Any:
        """The detector's result on the window: from the samples' scores when its own inline
        check gave them all (no second pass), else by running it on the window."""
        detector = self.detector
        from_scores = getattr(detector, "predict_scores", None)
        if callable(from_scores) and all(p.scores is not None and p.scored_by is detector for p in parts):
            return from_scores(np.concatenate([np.asarray(p.scores, dtype=float) for p in parts]))
        return detector.predict(concat([p.X for p in parts]))

    def _check(self, start: int, parts: list[_Part]) -> None:
        weighted = [(p.share, len(p.X)) for p in parts if p.share is not None]
        share = sum(s * n for s, n in weighted) / sum(n for _, n in weighted) if weighted else None
        version = parts[-1].version
        n = sum(len(p.X) for p in parts)
        try:
            res = self._decide(parts)
        except Exception as exc:  # a failing detector must not take the API down
            self.errors_.append(f"window at {start}: {exc}")
            log.warning("drift check of window at sample %d failed: %s", start, exc)
            return
        threshold = _get(res, "threshold")
        p_value = _get(res, "p_value")
        result = WindowResult(
            window=start // self.window,
            start=start,
            end=start + n,
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

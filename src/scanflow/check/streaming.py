"""Streaming mode: feed one sample or one batch at a time, bounded memory, drift onset.

:class:`StreamingDetector` wraps a *fitted* detector. It keeps the last ``window_size``
samples in a ring buffer (memory never grows), and every ``step`` new samples it runs the
wrapped detector's batch decision on the window. Drift is declared after ``patience``
consecutive positive windows; ``drift_started_at`` is then the stream position of the first
sample of the first positive window of that run (an estimate of when drift started: the
true onset lies inside that window, so the estimate is early by less than a window), and
``drift_detected_at`` the position at which it was declared.

Every window test can raise a false alarm at the wrapped detector's rate ``alpha``, and a
long stream runs many tests: ``patience`` (default 2 consecutive positive windows) and a
smaller ``alpha`` on the wrapped detector keep the stream-level false-alarm rate down.

Example:
    >>> import numpy as np
    >>> from scanflow.check import KSDetector
    >>> rng = np.random.default_rng(0)
    >>> sd = StreamingDetector(KSDetector(alpha=0.01).fit(rng.normal(size=(2000, 2))),
    ...                        window_size=100, step=50)
    >>> for x in rng.normal(size=(300, 2)):
    ...     _ = sd.update(x)
    >>> sd.drift_detected
    False
    >>> _ = sd.update(rng.normal(size=(300, 2)) + 2.0)
    >>> sd.drift_detected, sd.drift_started_at, sd.drift_detected_at  # onset at sample 300
    (True, 250, 400)
"""

from __future__ import annotations

import numpy as np

from .base import Detector, DetectorInputError
from .result import CheckResult

__all__ = ["StreamingDetector"]


class StreamingDetector:
    """Windowed wrapper around a fitted :class:`~scanflow.check.base.Detector`."""

    def __init__(self, detector: Detector, *, window_size: int = 100, step: int | None = None,
                 patience: int = 2):
        if not isinstance(detector, Detector):
            raise TypeError("detector must be a scanflow.check Detector")
        detector._check_fitted()
        if window_size < 2:
            raise ValueError(f"window_size={window_size} must be >= 2")
        if step is not None and step < 1:
            raise ValueError(f"step={step} must be >= 1")
        if patience < 1:
            raise ValueError(f"patience={patience} must be >= 1")
        self.detector = detector
        self.window_size = window_size
        self.step = step or window_size
        self.patience = patience
        self.reset()

    def reset(self) -> None:
        """Forget the window and the drift state (the wrapped detector stays fitted)."""
        self._buffer: np.ndarray | None = None
        self._n_in_buffer = 0
        self._head = 0  # next write position in the ring buffer
        self.n_seen = 0
        self._since_check = 0
        self._run = 0
        self._run_start: int | None = None
        self.drift_detected = False
        self.drift_started_at: int | None = None
        self.drift_detected_at: int | None = None
        self.history: list[dict] = []

    @property
    def sample_shape(self) -> tuple[int, ...]:
        shape = tuple(self.detector.input_shape_)
        if self.detector.input_kind_ == "image" and shape[0] == 1:
            return shape[1:]  # (H, W) for grey images
        return shape

    def _as_batch(self, x) -> np.ndarray:
        arr = np.asarray(x)
        sample = self.sample_shape
        if arr.shape == sample or (self.detector.input_kind_ == "image"
                                   and arr.shape == tuple(self.detector.input_shape_)):
            return arr[None]
        if arr.ndim >= 1 and arr.shape[1:] in (sample, tuple(self.detector.input_shape_)):
            return arr
        raise DetectorInputError(
            f"update() takes one sample of shape {sample} or a batch (n, *{sample}); "
            f"got {arr.shape}"
        )

    def window(self) -> np.ndarray:
        """The samples currently in the window, oldest first (a copy)."""
        if self._buffer is None:
            return np.empty((0, *self.sample_shape))
        if self._n_in_buffer < self.window_size:
            return self._buffer[: self._n_in_buffer].copy()
        return np.concatenate([self._buffer[self._head:], self._buffer[: self._head]])

    def update(self, x) -> CheckResult | None:
        """Add one sample or a batch; returns the latest window decision made, if any."""
        batch = self._as_batch(x)
        if self._buffer is None:
            self._buffer = np.empty((self.window_size, *batch.shape[1:]), dtype=batch.dtype)
        result = None
        for sample in batch:
            self._buffer[self._head] = sample
            self._head = (self._head + 1) % self.window_size
            self._n_in_buffer = min(self._n_in_buffer + 1, self.window_size)
            self.n_seen += 1
            self._since_check += 1
            if self._n_in_buffer == self.window_size and self._since_check >= self.step:
                self._since_check = 0
                result = self._check()
        return result

    def _check(self) -> CheckResult:
        result = self.detector.predict(self.window())
        start = self.n_seen - self.window_size
        self.history.append({"end": self.n_seen, "start": start, "is_drift": result.is_drift,
                             "p_value": result.p_value, "score": result.score})
        if result.is_drift:
            if self._run == 0:
                self._run_start = start
            self._run += 1
            if self._run >= self.patience and not self.drift_detected:
                self.drift_detected = True
                self.drift_started_at = self._run_start
                self.drift_detected_at = self.n_seen
        else:
            self._run = 0
            self._run_start = None
        return result

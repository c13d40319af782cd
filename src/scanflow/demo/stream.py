"""What the demo sent to the prediction API and what came back, with the ground truth.

Every request's answers are kept with the true labels, the phase of the stream, the model
version that answered and the prediction-log ids, so that accuracy per phase before and after a
promotion, the stream position of an agent's decision and the oracle's answers are all computed
from what really happened.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SentBatch", "StreamLog"]


@dataclass
class SentBatch:
    index: int
    start: int                 # stream position of the first sample
    phase: str
    shift: bool
    y_true: np.ndarray
    y_pred: np.ndarray
    outliers: np.ndarray
    prediction_ids: np.ndarray
    version: str | None
    sent_at: float
    latency: float

    @property
    def end(self) -> int:
        return self.start + len(self.y_true)

    @property
    def correct(self) -> np.ndarray:
        return np.asarray([str(a) == str(b) for a, b in zip(self.y_pred, self.y_true, strict=True)])


@dataclass
class StreamLog:
    """The batches sent so far (thread-safe appends; readers get copies)."""

    batches: list[SentBatch] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, batch: SentBatch) -> None:
        with self._lock:
            self.batches.append(batch)

    def snapshot(self) -> list[SentBatch]:
        with self._lock:
            return list(self.batches)

    @property
    def n_samples(self) -> int:
        b = self.snapshot()
        return b[-1].end if b else 0

    def truth(self) -> dict[int, Any]:
        """``{prediction id: true label}`` of everything sent: the oracle's answers."""
        out: dict[int, Any] = {}
        for b in self.snapshot():
            for pid, y in zip(b.prediction_ids, b.y_true, strict=True):
                if pid >= 0:
                    out[int(pid)] = y.item() if hasattr(y, "item") else y
        return out

    def phase_of(self, prediction_id: int) -> str | None:
        """The phase of the sample logged under ``prediction_id`` (None if the demo did not send it)."""
        for b in self.snapshot():
            if len(b.prediction_ids) and b.prediction_ids.min() <= prediction_id <= b.prediction_ids.max():
                return b.phase
        return None

    def position_at(self, t: float) -> int:
        """How many samples had been answered at time ``t``."""
        n = 0
        for b in self.snapshot():
            if b.sent_at + b.latency <= t:
                n = b.end
        return n

    def phases(self) -> list[dict[str, Any]]:
        """The phases in stream order: name, shift, first and last sample, start and end times."""
        out: list[dict[str, Any]] = []
        for b in self.snapshot():
            if not out or out[-1]["name"] != b.phase:
                out.append({"name": b.phase, "shift": b.shift, "start": b.start,
                            "started_at": b.sent_at, "batches": 0})
            out[-1].update(end=b.end, ended_at=b.sent_at + b.latency)
            out[-1]["batches"] += 1
        return out

    def accuracy(self, *, phase: str | None = None, version: str | None = None,
                 not_version: str | None = None, after: float | None = None) -> tuple[float | None, int]:
        """Accuracy (and sample count) of the answers matching the filters."""
        right = total = 0
        for b in self.snapshot():
            if phase is not None and b.phase != phase:
                continue
            if version is not None and b.version != version:
                continue
            if not_version is not None and b.version == not_version:
                continue
            if after is not None and b.sent_at < after:
                continue
            right += int(b.correct.sum())
            total += len(b.y_true)
        return (right / total if total else None), total

    def accuracy_points(self) -> list[dict[str, Any]]:
        """Accuracy per request, one series per served version: for the plots."""
        return [{"x": (b.start + b.end) / 2, "accuracy": float(b.correct.mean()),
                 "series": f"model v{b.version}", "phase": b.phase} for b in self.snapshot()]

"""What the demo sent to the prediction API and what came back, with the ground truth.

Every request's answers are kept with the true labels, the model version that answered and the
prediction-log ids, so that accuracy before and after a promotion, the stream position of an
agent's decision and the oracle's answers are all computed from what really happened.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SentBatch", "StreamLog"]


@dataclass
class SentBatch:
    index: int
    start: int                 # stream position of the first sample
    y_true: np.ndarray
    y_pred: np.ndarray
    corrupted: np.ndarray
    outliers: np.ndarray
    prediction_ids: np.ndarray
    version: str | None
    sent_at: float
    latency: float

    @property
    def end(self) -> int:
        return self.start + len(self.y_true)


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

    def truth_by_prediction_id(self) -> np.ndarray:
        """Dense array ``y[prediction_id] = true label`` (-1 where unknown): the oracle's answers."""
        batches = self.snapshot()
        ids = [b.prediction_ids for b in batches if len(b.prediction_ids)]
        if not ids:
            return np.full(1, -1, dtype=np.int64)
        top = int(max(int(i.max()) for i in ids))
        y = np.full(top + 1, -1, dtype=np.int64)
        for b in batches:
            if len(b.prediction_ids):
                y[b.prediction_ids] = b.y_true
        return y

    def position_of(self, prediction_id: int) -> int | None:
        """The stream position of a prediction-log id (None if the demo did not send it)."""
        for b in self.snapshot():
            if len(b.prediction_ids) and b.prediction_ids[0] <= prediction_id <= b.prediction_ids[-1]:
                hit = np.flatnonzero(b.prediction_ids == prediction_id)
                if len(hit):
                    return int(b.start + hit[0])
        return None

    def position_at(self, t: float) -> int:
        """How many samples had been answered at time ``t``."""
        n = 0
        for b in self.snapshot():
            if b.sent_at + b.latency <= t:
                n = b.end
        return n

    def accuracy(self, *, corrupted: bool | None = None, version: str | None = None,
                 not_version: str | None = None, after: int = 0) -> tuple[float | None, int]:
        """Accuracy (and sample count) of the answers matching the filters."""
        right = total = 0
        for b in self.snapshot():
            if b.start < after:
                continue
            if version is not None and b.version != version:
                continue
            if not_version is not None and b.version == not_version:
                continue
            mask = np.ones(len(b.y_true), bool) if corrupted is None else (b.corrupted == corrupted)
            right += int((b.y_pred[mask] == b.y_true[mask]).sum())
            total += int(mask.sum())
        return (right / total if total else None), total

    def accuracy_points(self) -> list[dict[str, Any]]:
        """Accuracy per request, one series per (served version, clean/corrupted): for the plots."""
        out = []
        for b in self.snapshot():
            kind = "corrupted" if b.corrupted.mean() >= 0.5 else "clean"
            out.append({"x": (b.start + b.end) / 2, "accuracy": float((b.y_pred == b.y_true).mean()),
                        "series": f"model v{b.version} on {kind} digits"})
        return out

    def first_version_change(self, baseline: str | None) -> SentBatch | None:
        for b in self.snapshot():
            if b.version != baseline:
                return b
        return None


def now() -> float:
    return time.time()

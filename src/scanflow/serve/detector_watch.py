"""Following the detector file: when the checker agent settles a drift episode it saves the
extended detector over its file, and the serving layer swaps it in like a new model version —
so inline flags and the drift windows stop alarming on a shift the model now handles.

>>> import tempfile, numpy as np
>>> from scanflow.check import get_detector
>>> path = tempfile.mkdtemp() + "/d.npz"
>>> _ = get_detector("ks").fit(np.random.default_rng(0).normal(size=(50, 2))).save(path)
>>> seen = []
>>> watch = DetectorWatch(path, seen.append)
>>> watch.check(), len(seen)
(False, 0)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["DetectorWatch"]


class DetectorWatch:
    """Calls ``on_change(detector)`` when the file at ``path`` is replaced (polled)."""

    def __init__(self, path: str | Path, on_change: Callable[[Any], None], *,
                 poll_interval: float = 2.0):
        self.path = Path(path)
        self.on_change = on_change
        self.poll_interval = poll_interval
        self._stamp = self._read_stamp()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.swaps_ = 0
        self.last_error_: str | None = None

    def _read_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def check(self) -> bool:
        """Load and hand over the detector if its file changed since the last look."""
        # lazy: scanflow.check loads SciPy; needed only when serving with a detector file
        from scanflow.check import Detector

        stamp = self._read_stamp()
        if stamp is None or stamp == self._stamp:
            return False
        try:
            detector = Detector.load(self.path)
        except Exception as exc:  # a half-written or bad file: keep the current detector
            self.last_error_ = f"cannot load {self.path}: {exc}"
            log.warning(self.last_error_)
            return False
        self._stamp = stamp
        self.on_change(detector)
        self.swaps_ += 1
        self.last_error_ = None
        return True

    def start(self) -> DetectorWatch:
        if self._thread is None and self.poll_interval > 0:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="scanflow-detector-watch",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_interval):
            self.check()

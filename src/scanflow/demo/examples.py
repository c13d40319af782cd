"""What ``scanflow demo`` streams: one :class:`Example` per packaged application.

An example names its application (shipped inside the package), the registered model, how a
batch is sent to the prediction API, and its **phases**: clean data, then shifts, then clean
again. A shift phase lasts until the agents have adapted to it — the checker settled its drift
episode (after a promotion, or once its label budget is spent) — plus ``after_batches`` more batches served by the adapted model, so
the report can show that no alarm and no label request follow; clean phases last a fixed
number of batches.

* ``mnist``: real MNIST digits; clean → fog → impulse noise → clean (two episodes).
* ``tabular``: UCI image-segment measurements (a table, 7 named classes); clean → the camera's
  white balance recalibrated → clean.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["EXAMPLES", "Example", "Phase", "get_example"]


@dataclass
class Phase:
    """One part of the stream: ``draw(n, rng) -> (X, y)``; a shift phase waits for adaptation."""

    name: str
    shift: bool
    draw: Callable[[int, np.random.Generator], tuple[Any, np.ndarray]]
    batches: int = 8          # clean phases: this many batches; shift phases: at least this many
    max_batches: int = 200    # shift phases: stop here even if the loop has not settled


@dataclass
class Example:
    """A packaged application and the stream the demo sends it."""

    name: str
    folder: str
    model: str
    noun: str
    batch_size: int
    phases: Callable[[Any], list[Phase]]
    quick: dict[str, dict[str, Any]] = field(default_factory=dict)  # node -> parameters
    quick_agents: dict[str, dict[str, Any]] = field(default_factory=dict)  # agent -> config

    @property
    def app_dir(self) -> Path:
        return Path(str(resources.files("scanflow.demo") / self.folder))

    def body(self, X: Any) -> dict[str, Any]:
        """The ``/predict/batch`` request for the samples ``X``."""
        if hasattr(X, "to_dict"):
            records = X.astype(object).where(X.notna(), None).to_dict(orient="records")
            return {"records": records}
        return {"images_b64": [base64.b64encode(np.ascontiguousarray(x).tobytes()).decode() for x in X]}


# ----------------------------------------------------------------------------- MNIST
def _mnist_pool():
    # lazy: scanflow.datasets loads SciPy, which importing scanflow.demo skips
    from scanflow.datasets import load_mnist

    return load_mnist("test")


def _digits(corruption: str | None):
    cache: dict[str, Any] = {}

    def draw(n: int, rng: np.random.Generator):
        # lazy: scanflow.datasets loads SciPy, which importing scanflow.demo skips
        from scanflow.datasets import corrupt

        if "pool" not in cache:
            cache["pool"] = _mnist_pool()
        X, y = cache["pool"]
        idx = rng.choice(len(X), n, replace=False)
        Xb = X[idx] if corruption is None else corrupt(X[idx], corruption, seed=int(rng.integers(1 << 30)))
        return Xb, y[idx]
    return draw


def _mnist_phases(settings: Any) -> list[Phase]:
    shifts = settings.shifts or ["fog", "impulse_noise"]
    phases = [Phase("clean", False, _digits(None), batches=settings.clean_batches)]
    for name in shifts:
        phases.append(Phase(name, True, _digits(name), batches=4, max_batches=settings.max_shift_batches))
    phases.append(Phase("clean again", False, _digits(None), batches=settings.clean_batches))
    return phases


# ----------------------------------------------------------------------------- table
def _segment_pool(seed: int):
    # lazy: scanflow.datasets loads SciPy, which importing scanflow.demo skips
    from scanflow.datasets import split_segment

    parts = split_segment(seed=0)
    return parts[4], parts[5]


def _rows(recalibrated: bool):
    cache: dict[str, Any] = {}

    def draw(n: int, rng: np.random.Generator):
        # lazy: scanflow.datasets loads SciPy, which importing scanflow.demo skips
        from scanflow.datasets import recalibrate_camera

        if "pool" not in cache:
            cache["pool"] = _segment_pool(0)
        X, y = cache["pool"]
        idx = rng.choice(len(X), n, replace=False)
        Xb = X.iloc[idx].reset_index(drop=True)
        return (recalibrate_camera(Xb) if recalibrated else Xb), y[idx]
    return draw


def _tabular_phases(settings: Any) -> list[Phase]:
    return [Phase("clean", False, _rows(False), batches=settings.clean_batches),
            Phase("camera recalibrated", True, _rows(True), batches=4,
                  max_batches=settings.max_shift_batches),
            Phase("clean again", False, _rows(False), batches=settings.clean_batches)]


EXAMPLES: dict[str, Example] = {
    "mnist": Example(
        "mnist", "app", "mnist-cnn", "digits", 50, _mnist_phases,
        quick={"train": {"epochs": 2, "limit": 3000, "seed": 0, "channels": [16, 32], "hidden": 64},
               "fit_detector": {"epochs": 3, "limit": 1000, "seed": 0}},
        quick_agents={}),
    "tabular": Example("tabular", "tabular", "segment", "rows", 30, _tabular_phases),
}


def get_example(name: str) -> Example:
    try:
        return EXAMPLES[name]
    except KeyError:
        raise ValueError(f"unknown demo example {name!r}; choose one of {', '.join(EXAMPLES)}") from None

"""The demo's settings: the full preset (a few minutes on 2 cores) and ``--quick`` (CI)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DemoSettings"]


@dataclass
class DemoSettings:
    """What ``scanflow demo`` does; :meth:`preset` gives the defaults of a mode.

    Stream: ``clean_batches`` requests of ``batch_size`` clean digits, then corrupted digits
    (``corruption``) until the agents have promoted a new model and ``after_batches`` more
    corrupted requests were served by it (or ``max_drift_batches`` / ``timeout`` run out).
    """

    quick: bool = False
    human: bool = False
    output: Path | None = None
    state_dir: Path | None = None
    corruption: str = "fog"
    seed: int = 0
    batch_size: int = 50
    clean_batches: int = 10
    max_drift_batches: int = 300
    after_batches: int = 10
    pace: float = 0.3
    timeout: float = 900.0
    port: int = 0
    train: dict[str, Any] = field(default_factory=dict)
    detector: dict[str, Any] = field(default_factory=dict)
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    keep_open: bool = False
    mlflow_ui: bool = False

    @classmethod
    def preset(cls, quick: bool = False, **overrides: Any) -> DemoSettings:
        if quick:
            base = cls(
                quick=True, batch_size=50, clean_batches=6, max_drift_batches=200, after_batches=6,
                pace=0.25, timeout=300.0,
                train={"epochs": 1, "limit": 2000, "seed": 0, "channels": [16, 32], "hidden": 64},
                detector={"epochs": 3, "limit": 1000, "seed": 0},
                agents={"tracker": {"batch_size": 100, "window": 300},
                        "checker": {"budget": 80},
                        "improver": {"min_labels": 80}},
            )
        else:
            base = cls(
                train={"epochs": 3, "limit": 5000, "seed": 0},
                detector={"epochs": 6, "limit": 3000, "seed": 0},
                agents={"tracker": {"batch_size": 100, "window": 300},
                        "checker": {"budget": 80},
                        "improver": {"min_labels": 150}},
            )
        for key, value in overrides.items():
            if value is None:
                continue
            if not hasattr(base, key):
                raise TypeError(f"DemoSettings has no setting {key!r}")
            setattr(base, key, value)
        if base.human:
            base.pace = max(base.pace, 0.5)
            base.max_drift_batches = max(base.max_drift_batches, 400)
            base.timeout = max(base.timeout, 3600.0)
        return base

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("output", "state_dir"):
            d[key] = None if d[key] is None else str(d[key])
        return d

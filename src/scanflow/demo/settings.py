"""The demo's settings: the full preset (a few minutes on 2 cores) and ``--quick`` (CI)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DemoSettings"]


@dataclass
class DemoSettings:
    """What ``scanflow demo`` does; :meth:`preset` gives the defaults of a mode.

    Stream (:mod:`scanflow.demo.examples`): ``clean_batches`` clean requests, then each shift
    until the agents adapted to it (the checker settled its episode) and
    ``after_batches`` more requests were answered by the adapted model (at most
    ``max_shift_batches`` per shift), then ``clean_batches`` clean requests again. ``shifts``
    names the MNIST corruptions (default: fog, then impulse noise).
    """

    example: str = "mnist"
    quick: bool = False
    human: bool = False
    output: Path | None = None
    state_dir: Path | None = None
    shifts: list[str] = field(default_factory=list)
    seed: int = 0
    batch_size: int | None = None
    clean_batches: int = 8
    max_shift_batches: int = 160
    after_batches: int = 8
    pace: float = 0.3
    timeout: float = 900.0
    port: int = 0
    train: dict[str, dict[str, Any]] = field(default_factory=dict)   # node -> parameters
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)  # agent -> config
    keep_open: bool = False
    mlflow_ui: bool = False

    @classmethod
    def preset(cls, quick: bool = False, **overrides: Any) -> DemoSettings:
        base = cls(quick=True, clean_batches=4, max_shift_batches=160, after_batches=4, pace=0.25,
                   timeout=480.0) if quick else cls()
        for key, value in overrides.items():
            if value is None:
                continue
            if not hasattr(base, key):
                raise TypeError(f"DemoSettings has no setting {key!r}")
            setattr(base, key, value)
        if base.human:
            base.pace = max(base.pace, 0.5)
            base.max_shift_batches = max(base.max_shift_batches, 400)
            base.timeout = max(base.timeout, 3600.0)
        return base

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("output", "state_dir"):
            d[key] = None if d[key] is None else str(d[key])
        return d

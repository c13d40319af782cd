"""Which samples of an episode's pool the improver asks people to label.

``selector: auto`` (the default) draws the round at random from the episode's whole pool. It was
chosen by ``benchmarks/selection_families.py``, which compares every selector on three families
of shifts (MNIST-C corruptions, six other image corruptions, a recalibrated table): the
uncertainty selectors (``margin``, ``hybrid``, ``entropy``) win a few points on images and lose
12-14 on the table, k-center spreads the round but loses on both, and random has the least
regret overall (docs/improve.md quotes the numbers). Random picks also keep the held-out share
of the labels an unbiased estimate of accuracy on the shift, which the gate and the "final"
decision rely on. Any selector of :mod:`scanflow.improve.selection` can be named instead, e.g.
``margin`` for an image model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from scanflow.improve.selection import get_selector
from scanflow.models import take

__all__ = ["choose", "episode_detector"]


def episode_detector(cfg: Any, ctx: Any) -> Any:
    """The detector whose features the selector uses (None when there is no detector file)."""
    # lazy: scanflow.check loads SciPy, which the agents package does not
    from scanflow.check import Detector

    path = Path(cfg.detector) if cfg.detector else None
    if path is not None and not path.is_absolute() and ctx.root is not None:
        path = Path(ctx.root) / path
    if path is None and ctx.app is not None:
        path = ctx.app.state_path / "detector.npz"
    if path is None or not path.is_file():
        return None
    det = Detector.load(path)
    return getattr(det, "base_", det)  # an accepting detector's features are its base's


def _selector(cfg: Any, has_proba: bool):
    if cfg.selector != "auto":
        return get_selector(cfg.selector, **cfg.selector_params)
    return get_selector("random", **cfg.selector_params)


def choose(cfg: Any, ctx: Any, champion: Any, X: Any, n: int, seed: int) -> tuple[list[int], list[int] | None]:
    """Positions in ``X`` of the ``n`` samples to label, and the champion's guess (class position)
    for each."""
    if n <= 0 or len(X) == 0:
        return [], None
    detector = episode_detector(cfg, ctx)
    proba = champion is not None and champion.has_proba
    selector = _selector(cfg, proba)
    positions = selector.select(X, n, model=champion if proba else None, detector=detector, seed=seed)
    if champion is None or not len(positions):
        return [int(i) for i in positions], None
    guesses = champion.label_index(champion.predict(take(X, positions)))
    return [int(i) for i in positions], [int(g) for g in np.asarray(guesses)]

"""Which samples of an episode's pool the improver asks people to label.

``selector: auto`` (the default) spreads the round over the kinds of samples in the pool and
favours the ones the champion is unsure of: greedy k-center on the detector's features (the
autoencoder's latent space; the standardised raw features without one), each distance weighted
by the champion's uncertainty (``1 - margin``). Any selector of :mod:`scanflow.improve.selection`
can be named instead (benchmarks/selection_families.py compares them on several families of
shifts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["choose", "episode_detector"]


def episode_detector(cfg: Any, ctx: Any) -> Any:
    """The detector whose features the selector uses (None when there is no detector file)."""
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
    from scanflow.improve.selection import get_selector

    if cfg.selector != "auto":
        return get_selector(cfg.selector, **cfg.selector_params)
    power = 1.0 if has_proba else 0.0
    return get_selector("kcenter", only_flagged=False, uncertainty_power=power)


def choose(cfg: Any, ctx: Any, champion: Any, X: Any, n: int, seed: int) -> tuple[list[int], list[int] | None]:
    """Positions in ``X`` of the ``n`` samples to label, and the champion's guess (class position)
    for each."""
    from scanflow.models import take

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

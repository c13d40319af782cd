"""Scheduled data streams: clean batches, then a sudden or gradual switch to corrupted data.

Example:
    >>> from scanflow.datasets import load_mnist, make_stream
    >>> X, y = load_mnist("test", limit=500)
    >>> stream = make_stream(X, y, batch_size=50, n_clean=4, n_drift=2, corruption="fog")
    >>> [b.corrupted.mean() for b in stream]
    [np.float64(0.0), np.float64(0.0), np.float64(0.0), np.float64(0.0), np.float64(1.0), np.float64(1.0)]
    >>> str(stream[-1].corruption[0])
    'fog'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .corruptions import CORRUPTIONS, CorruptionError, corrupt

__all__ = ["StreamBatch", "make_stream"]

CLEAN = "none"


@dataclass
class StreamBatch:
    """One batch of a stream with its ground truth.

    ``corrupted[i]`` says whether sample ``i`` was corrupted and ``corruption[i]`` names the
    corruption (``"none"`` for clean samples). ``index`` is the batch position in the stream
    and ``start`` the stream position of its first sample.
    """

    index: int
    start: int
    X: np.ndarray
    y: np.ndarray | None
    corrupted: np.ndarray
    corruption: np.ndarray

    @property
    def drift_share(self) -> float:
        return float(self.corrupted.mean()) if len(self.corrupted) else 0.0

    def __len__(self) -> int:
        return len(self.X)


@dataclass(frozen=True)
class _Mixture:
    """The corruptions a drifting sample is drawn from, with their probabilities."""

    names: list[str]
    weights: np.ndarray

    def corrupt(self, images: np.ndarray, flags: np.ndarray, rng) -> np.ndarray:
        """Corrupt the flagged ``images`` in place, one drawn corruption each; return the names."""
        which = np.full(len(images), CLEAN, dtype=object)
        picks = rng.choice(len(self.names), size=len(images), p=self.weights)
        for k, name in enumerate(self.names):
            chosen = flags & (picks == k)
            if chosen.any():
                images[chosen] = corrupt(images[chosen], name, seed=int(rng.integers(2**31)))
                which[chosen] = name
        return which


def _mixture(corruption) -> _Mixture:
    """Read a corruption name, a list of names or a ``{name: weight}`` mapping."""
    if isinstance(corruption, str):
        names, weights = [corruption], [1.0]
    elif isinstance(corruption, Mapping):
        names, weights = list(corruption), [float(w) for w in corruption.values()]
    elif isinstance(corruption, Sequence):
        names, weights = list(corruption), [1.0] * len(corruption)
    else:
        raise CorruptionError(
            "corruption must be a name, a list of names or a {name: weight} mapping, "
            f"got {type(corruption).__name__}"
        )
    if not names:
        raise CorruptionError("corruption mixture is empty; give at least one name")
    for name in names:
        if name not in CORRUPTIONS:
            raise CorruptionError(
                f"unknown corruption {name!r} in the stream; choose from {', '.join(CORRUPTIONS)}"
            )
    w = np.asarray(weights, dtype=float)
    if (w < 0).any() or w.sum() <= 0:
        raise CorruptionError(f"mixture weights must be non-negative with a positive sum: {w}")
    return _Mixture(names, w / w.sum())


@dataclass(frozen=True)
class _Schedule:
    """When a stream drifts: ``n_clean`` clean batches, then ``n_drift`` drifting ones."""

    batch_size: int
    n_clean: int
    n_drift: int
    mode: str
    transition: int

    def check(self) -> None:
        """Raise :class:`CorruptionError` on sizes or a mode that make no stream."""
        if self.batch_size < 1 or self.n_clean < 0 or self.n_drift < 0:
            raise CorruptionError("batch_size must be >= 1, n_clean and n_drift >= 0")
        if self.mode not in ("sudden", "gradual"):
            raise CorruptionError(f"mode must be 'sudden' or 'gradual', got {self.mode!r}")
        if self.mode == "gradual" and self.transition < 1:
            raise CorruptionError("transition must be >= 1 batch for a gradual stream")

    @property
    def n_batches(self) -> int:
        return self.n_clean + self.n_drift

    def drift_share(self, batch: int) -> float:
        """The share of corrupted samples in batch number ``batch``."""
        if batch < self.n_clean:
            return 0.0
        if self.mode == "sudden":
            return 1.0
        return min(1.0, (batch - self.n_clean + 1) / self.transition)


def _check_images(X: np.ndarray, y) -> None:
    """Raise :class:`CorruptionError` unless ``X`` holds uint8 digits and ``y`` one label each."""
    if X.ndim != 3 or X.dtype != np.uint8:
        raise CorruptionError(
            f"make_stream expects uint8 images (n, 28, 28), got {X.dtype} {X.shape}"
        )
    if y is not None and len(y) != len(X):
        raise CorruptionError(f"y has {len(y)} labels for {len(X)} images")


def _sample_order(rng, n_items: int, total: int) -> np.ndarray:
    """``total`` indices into the data: without replacement while it lasts, then again."""
    reps = -(-total // n_items)
    return np.concatenate([rng.permutation(n_items) for _ in range(reps)])[:total]


def make_stream(
    X: np.ndarray,
    y: np.ndarray | None = None,
    *,
    batch_size: int = 100,
    n_clean: int = 20,
    n_drift: int = 20,
    corruption: str | Sequence[str] | Mapping[str, float] = "fog",
    mode: str = "sudden",
    transition: int = 10,
    seed: int = 0,
) -> list[StreamBatch]:
    """Schedule ``n_clean`` clean batches followed by ``n_drift`` drifting batches.

    ``mode="sudden"`` corrupts every sample of the drifting batches; ``mode="gradual"`` ramps
    the corrupted share linearly from ``1/transition`` to 1 over the first ``transition``
    drifting batches. ``corruption`` is one name, a list (uniform mixture) or a
    ``{name: weight}`` mapping. Samples are drawn from ``X`` without replacement while it
    lasts (then with replacement), so a stream may be longer than the data.
    """
    X = np.asarray(X)
    _check_images(X, y)
    schedule = _Schedule(batch_size, n_clean, n_drift, mode, transition)
    schedule.check()
    mixture = _mixture(corruption)
    rng = np.random.default_rng(seed)
    order = _sample_order(rng, len(X), schedule.n_batches * batch_size)
    batches = []
    for b in range(schedule.n_batches):
        idx = order[b * batch_size : (b + 1) * batch_size]
        images = X[idx].copy()
        share = schedule.drift_share(b)
        flags = rng.random(batch_size) < share if 0 < share < 1 else np.full(batch_size, share >= 1)
        which = mixture.corrupt(images, flags, rng)
        batches.append(
            StreamBatch(
                index=b,
                start=b * batch_size,
                X=images,
                y=None if y is None else np.asarray(y)[idx],
                corrupted=flags.astype(bool),
                corruption=which.astype(str),
            )
        )
    return batches

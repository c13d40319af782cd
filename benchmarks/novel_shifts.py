"""Image shifts that are *not* MNIST-C, for benchmarks/selection_families.py.

Grey 28×28 digits in, grey digits out (uint8), deterministic by seed. None of them is one of
the 15 MNIST-C corruptions of ``scanflow.datasets``, nor one of the denoiser's generic
pretraining corruptions (Gaussian noise, isotropic blur, erased rectangles at 0 or 1):

=============  =================================================================================
``invert``     photographic negative (white paper, dark ink)
``jpeg``       JPEG-like 8×8 block DCT with coarse quantisation (blocking and ringing)
``occlude``    two or three opaque patches at a random grey level 0.35–0.75 (not 0 or 1)
``elastic``    smooth random displacement field (Simard et al.'s elastic distortion)
``salt``       salt-only noise: 25 % of the pixels set to white (MNIST-C's impulse noise is salt
               *and* pepper at 17 %)
``pixelate``   average over 4×4 blocks, upsampled back by nearest neighbour
=============  =================================================================================
"""

from __future__ import annotations

import numpy as np

NOVEL = ("invert", "jpeg", "occlude", "elastic", "salt", "pixelate")


def _invert(x, rng):
    return 1.0 - x


def _jpeg(x, rng, step: float = 0.45):
    from scipy.fft import dctn, idctn

    n = len(x)
    pad = np.zeros((n, 32, 32))
    pad[:, :28, :28] = x
    blocks = pad.reshape(n, 4, 8, 4, 8).transpose(0, 1, 3, 2, 4)
    coef = dctn(blocks, axes=(-2, -1), norm="ortho")
    # coarser steps for higher frequencies, as a JPEG quality-10 table does
    freq = np.add.outer(np.arange(8), np.arange(8))
    q = step * (1.0 + freq / 3.0)
    out = idctn(np.round(coef / q) * q, axes=(-2, -1), norm="ortho")
    return np.clip(out.transpose(0, 1, 3, 2, 4).reshape(n, 32, 32)[:, :28, :28], 0, 1)


def _occlude(x, rng):
    out = x.copy()
    for i in range(len(x)):
        for _ in range(int(rng.integers(2, 4))):
            h, w = (int(v) for v in rng.integers(5, 10, 2))
            r, c = (int(v) for v in rng.integers(0, 28 - 5, 2))
            out[i, r: r + h, c: c + w] = rng.uniform(0.35, 0.75)
    return out


def _elastic(x, rng, pixels: float = 1.6, sigma: float = 3.0):
    """Each pixel moves by a smooth random field whose displacement has std ``pixels``."""
    from scipy.ndimage import gaussian_filter, map_coordinates

    rows, cols = np.meshgrid(np.arange(28), np.arange(28), indexing="ij")
    out = np.empty_like(x)
    for i in range(len(x)):
        field = [gaussian_filter(rng.uniform(-1, 1, (28, 28)), sigma) for _ in range(2)]
        dr, dc = (f / (f.std() + 1e-12) * pixels for f in field)
        out[i] = map_coordinates(x[i], [rows + dr, cols + dc], order=1, mode="constant")
    return out


def _salt(x, rng, amount: float = 0.25):
    out = x.copy()
    out[rng.random(x.shape) < amount] = 1.0
    return out


def _pixelate(x, rng, block: int = 4):
    n = len(x)
    small = x.reshape(n, 28 // block, block, 28 // block, block).mean(axis=(2, 4))
    return np.repeat(np.repeat(small, block, axis=1), block, axis=2)


_FUNCTIONS = {"invert": _invert, "jpeg": _jpeg, "occlude": _occlude, "elastic": _elastic,
              "salt": _salt, "pixelate": _pixelate}


def novel_corrupt(images: np.ndarray, name: str, seed: int = 0) -> np.ndarray:
    """Apply the novel shift ``name`` to uint8 digits ``(n, 28, 28)``, deterministically."""
    if name not in _FUNCTIONS:
        raise ValueError(f"unknown novel shift {name!r}; choose one of {', '.join(NOVEL)}")
    x = np.asarray(images, dtype=np.float64) / 255.0
    if len(x) == 0:
        return np.asarray(images, dtype=np.uint8).copy()
    rng = np.random.default_rng([int(seed), NOVEL.index(name), 7])
    return np.clip(np.rint(_FUNCTIONS[name](x, rng) * 255.0), 0, 255).astype(np.uint8)


def novel_mixture(images: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each digit gets one novel shift drawn uniformly: ``(shifted, shift names)``."""
    rng = np.random.default_rng(seed)
    which = np.asarray(NOVEL, dtype=object)[rng.integers(len(NOVEL), size=len(images))]
    out = np.empty_like(np.asarray(images, dtype=np.uint8))
    for k, name in enumerate(NOVEL):
        sel = which == name
        if sel.any():
            out[sel] = novel_corrupt(images[sel], name, seed=seed * 31 + k)
    return out, which

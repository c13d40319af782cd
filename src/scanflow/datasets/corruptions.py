"""The 15 MNIST-C corruptions (Mu & Gilmer, 2019) as seeded numpy/scipy functions.

Each corruption takes uint8 images ``(n, 28, 28)`` (or one ``(28, 28)`` image) and returns
uint8 images of the same shape. Results depend only on the images and ``seed``.

The parameters are those of the published MNIST-C benchmark (one fixed severity per
corruption, the defaults of ``corruptions.py`` in google-research/mnist-c):

==============  ================================================================
shot_noise      Poisson noise, photons per unit intensity 3 (severity 5)
impulse_noise   salt & pepper, 17 % of pixels (severity 4)
glass_blur      gaussian sigma 0.7, local pixel swaps of +-1 px, 2 passes (severity 1)
motion_blur     ImageMagick-style motion blur, radius 10, sigma 3, angle U(-45, 45) deg
shear           affine shear 0.4 rad, random sign, about the image centre (severity 2)
scale           zoom out to 70 % about the centre (severity 3)
rotate          rotation 0.4 rad (~23 deg), random sign (severity 2)
brightness      +0.5 on the HSV value channel, i.e. ``clip(x + 0.5)`` for grey images
translate       shift by 3 px in x and in y, random signs (severity 3)
stripe          invert the 7 leftmost and 7 rightmost columns
fog             plasma-fractal fog, strength 3.0, wibble decay 1.4 (severity 5)
spatter         mud spatter (0.65, 0.3, 1, 0.65, 1.5) (severity 4)
dotted_line     a dashed anti-aliased line across the image at random heights
zigzag          an anti-aliased zig-zag line (length 2, width 2) at a random height
canny_edges     Canny edge map (sigma 1, thresholds 0.1 / 0.2)
==============  ================================================================

Two faithful quirks of the reference code are kept on purpose: glass blur smooths along the
rows axis only (the original passed ``multichannel=True`` for a grey image), and shear uses
scikit-image's pre-0.19 shear matrix ``[[1, -sin s], [0, cos s]]``.

Example:
    >>> import numpy as np
    >>> x = np.zeros((2, 28, 28), dtype=np.uint8)
    >>> corrupt(x, "brightness").max()
    np.uint8(128)
    >>> (corrupt(x, "fog", seed=1) == corrupt(x, "fog", seed=1)).all()
    np.True_
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage as ndi

from scanflow.errors import ScanflowError

__all__ = ["CORRUPTIONS", "CorruptionError", "corrupt", "corruption_function"]

CORRUPTIONS: tuple[str, ...] = (
    "shot_noise",
    "impulse_noise",
    "glass_blur",
    "motion_blur",
    "shear",
    "scale",
    "rotate",
    "brightness",
    "translate",
    "stripe",
    "fog",
    "spatter",
    "dotted_line",
    "zigzag",
    "canny_edges",
)

_SIZE = 28
_CENTRE = (_SIZE - 1) / 2.0  # 13.5: the affine corruptions keep it fixed


class CorruptionError(ScanflowError, ValueError):
    """Bad input to :func:`corrupt` (unknown name, wrong shape or dtype)."""


# ----------------------------------------------------------------------------- helpers


def _gaussian(x: np.ndarray, sigma: float | tuple[float, float], mode: str = "nearest"):
    """skimage.filters.gaussian on a batch (n, H, W), per image (never across images)."""
    s = (sigma, sigma) if np.isscalar(sigma) else sigma
    return ndi.gaussian_filter(x, sigma=(0.0, *s), mode=mode, truncate=4.0)


def _affine(x: np.ndarray, matrices: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Warp each image by an inverse map in (col, row) coordinates, bilinear, zero fill.

    Output pixel at ``p = (col, row)`` samples the input at ``M @ p + t`` (``matrices[i]`` is
    ``M``, ``offsets[i]`` is ``t``), as ``skimage.transform.warp(x, inverse_map=aff)`` does.
    """
    n = x.shape[0]
    rows, cols = np.mgrid[0:_SIZE, 0:_SIZE].astype(np.float64)
    p = np.stack([cols.ravel(), rows.ravel()])  # (2, 784) as (x, y)
    src = np.einsum("nij,jk->nik", matrices, p) + offsets[:, :, None]  # (n, 2, 784)
    coords = np.empty((3, n, p.shape[1]))
    coords[0] = np.arange(n)[:, None]
    coords[1] = src[:, 1]  # row
    coords[2] = src[:, 0]  # col
    out = ndi.map_coordinates(x, coords, order=1, mode="constant", cval=0.0)
    return out.reshape(n, _SIZE, _SIZE)


def _about_centre(matrices: np.ndarray) -> np.ndarray:
    """Translation that keeps the image centre fixed under ``M``: ``t = c (1 - sum of row)``."""
    return _CENTRE * (1.0 - matrices.sum(axis=2))


def _line_from_points(c0: float, r0: float, c1: float, r1: float) -> np.ndarray:
    """An anti-aliased line between two points with a log fall-off over 2.3 px (MNIST-C)."""
    if c1 == c0:
        return np.zeros((_SIZE, _SIZE))
    cc = np.arange(_SIZE, dtype=np.float64)[None, :]
    rr = np.arange(_SIZE, dtype=np.float64)[:, None]
    slope = (r1 - r0) / (c1 - c0)
    dist = np.clip(np.abs(rr - (slope * (cc - c0) + r0)), 0, 2.3 - 1e-10)
    line = np.clip(np.log(1 - dist / 2.3) + 1, 0, 1)
    left, right = int(np.floor(c0)), int(np.ceil(c1))
    line[:, :left] = 0
    line[:, right:] = 0
    return line


def _plasma_fractal(n: int, rng: np.random.Generator, mapsize: int = 256, decay: float = 1.4):
    """Diamond-square height maps in [0, 1] for ``n`` images at once, shape (n, size, size)."""
    maps = np.zeros((n, mapsize, mapsize))
    step, wibble = mapsize, 100.0

    def wibbled_mean(a):
        return a / 4 + wibble * rng.uniform(-wibble, wibble, a.shape)

    while step >= 2:
        half = step // 2
        corners = maps[:, 0:mapsize:step, 0:mapsize:step]
        sq = corners + np.roll(corners, -1, axis=1)
        sq = sq + np.roll(sq, -1, axis=2)
        maps[:, half:mapsize:step, half:mapsize:step] = wibbled_mean(sq)
        dr = maps[:, half:mapsize:step, half:mapsize:step]
        ul = maps[:, 0:mapsize:step, 0:mapsize:step]
        lt = dr + np.roll(dr, 1, axis=1) + ul + np.roll(ul, -1, axis=2)
        maps[:, 0:mapsize:step, half:mapsize:step] = wibbled_mean(lt)
        tt = dr + np.roll(dr, 1, axis=2) + ul + np.roll(ul, -1, axis=1)
        maps[:, half:mapsize:step, 0:mapsize:step] = wibbled_mean(tt)
        step //= 2
        wibble /= decay
    maps -= maps.min(axis=(1, 2), keepdims=True)
    return maps / maps.max(axis=(1, 2), keepdims=True)


def _shifted(a: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """``out[..., r, c] = a[..., r + dr, c + dc]`` with zeros outside."""
    out = np.zeros_like(a)
    h, w = a.shape[-2:]
    rs, re = max(0, -dr), h - max(0, dr)
    cs, ce = max(0, -dc), w - max(0, dc)
    out[..., rs:re, cs:ce] = a[..., rs + dr : re + dr, cs + dc : ce + dc]
    return out


def _sobel(x: np.ndarray, axis: int) -> np.ndarray:
    """scipy.ndimage.sobel along image ``axis`` (1 rows, 2 cols) without mixing images."""
    other = 2 if axis == 1 else 1
    d = ndi.correlate1d(x, [-1.0, 0.0, 1.0], axis=axis, mode="reflect")
    return ndi.correlate1d(d, [1.0, 2.0, 1.0], axis=other, mode="reflect")


def _canny(x: np.ndarray, sigma: float = 1.0, low: float = 0.1, high: float = 0.2):
    """Canny edges of a batch of [0, 1] images, as skimage.feature.canny (2019) computes them."""
    ones = np.ones_like(x)
    smoothed = _gaussian(x, sigma, mode="constant") / (
        _gaussian(ones, sigma, mode="constant") + np.finfo(float).eps
    )
    isob = _sobel(smoothed, axis=1)
    jsob = _sobel(smoothed, axis=2)
    ai, aj = np.abs(isob), np.abs(jsob)
    mag = np.hypot(isob, jsob)
    inner = np.zeros(x.shape, dtype=bool)
    inner[:, 1:-1, 1:-1] = True
    inner &= mag > 0
    nb = {(dr, dc): _shifted(mag, dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)}
    maxima = np.zeros(x.shape, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        w_ji = aj / ai
        w_ij = ai / aj
    sectors = [  # (points, weight, plus neighbours (c1, c2), minus neighbours (c1, c2))
        (((isob >= 0) & (jsob >= 0) | (isob <= 0) & (jsob <= 0)) & (ai >= aj), w_ji,
         ((1, 0), (1, 1)), ((-1, 0), (-1, -1))),
        (((isob >= 0) & (jsob >= 0) | (isob <= 0) & (jsob <= 0)) & (ai <= aj), w_ij,
         ((0, 1), (1, 1)), ((0, -1), (-1, -1))),
        (((isob <= 0) & (jsob >= 0) | (isob >= 0) & (jsob <= 0)) & (ai <= aj), w_ij,
         ((0, 1), (-1, 1)), ((0, -1), (1, -1))),
        (((isob <= 0) & (jsob >= 0) | (isob >= 0) & (jsob <= 0)) & (ai >= aj), w_ji,
         ((-1, 0), (-1, 1)), ((1, 0), (1, -1))),
    ]
    for pts, w, plus, minus in sectors:
        pts = pts & inner
        wp = w[pts]
        m = mag[pts]
        c_plus = nb[plus[1]][pts] * wp + nb[plus[0]][pts] * (1 - wp) <= m
        c_minus = nb[minus[1]][pts] * wp + nb[minus[0]][pts] * (1 - wp) <= m
        maxima[pts] = c_plus & c_minus
    high_mask = maxima & (mag >= high)
    low_mask = maxima & (mag >= low)
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True  # 8-connectivity inside each image, never across images
    labels, count = ndi.label(low_mask, structure)
    if count == 0:
        return low_mask
    sums = np.array(ndi.sum(high_mask, labels, np.arange(1, count + 1)), ndmin=1)
    good = np.zeros(count + 1, dtype=bool)
    good[1:] = sums > 0
    return good[labels]


# ----------------------------------------------------------------------------- corruptions
# Each takes float images (n, 28, 28) in [0, 1] and a Generator, returns floats in [0, 1].


def shot_noise(x, rng):
    c = 3.0
    return np.clip(rng.poisson(x * c) / c, 0, 1)


def impulse_noise(x, rng):
    amount = 0.17
    flipped = rng.random(x.shape) < amount
    salted = rng.random(x.shape) < 0.5
    out = x.copy()
    out[flipped & salted] = 1.0
    out[flipped & ~salted] = 0.0
    return out


def glass_blur(x, rng):
    sigma, delta, iterations = 0.7, 1, 2
    # the reference smooths along rows only (multichannel=True on a grey image)
    y = np.floor(_gaussian(x, (sigma, 0.0)) * 255).astype(np.uint8)
    n = len(y)
    for _ in range(iterations):
        for h in range(_SIZE - delta, delta, -1):
            for w in range(_SIZE - delta, delta, -1):
                idx = np.flatnonzero(rng.random(n) < 0.5)
                if idx.size == 0:
                    continue
                d = rng.integers(-delta, delta, size=(idx.size, 2))
                hp, wp = h + d[:, 1], w + d[:, 0]
                a = y[idx, h, w].copy()
                y[idx, h, w] = y[idx, hp, wp]
                y[idx, hp, wp] = a
    return np.clip(_gaussian(y / 255.0, (sigma, 0.0)), 0, 1)


def motion_blur(x, rng):
    radius, sigma = 10, 3.0
    width = 2 * radius + 1
    kernel = np.exp(-(np.arange(width) ** 2) / (2 * sigma**2))
    kernel /= kernel.sum()
    angles = np.deg2rad(rng.uniform(-45, 45, size=len(x)))
    i = np.arange(width)[None, :]
    dx = np.ceil(i * np.cos(angles)[:, None] - 0.5).astype(int)  # (n, width) columns
    dy = np.ceil(i * np.sin(angles)[:, None] - 0.5).astype(int)  # rows
    n = len(x)
    rows = np.arange(_SIZE)[None, :, None]
    cols = np.arange(_SIZE)[None, None, :]
    nn = np.arange(n)[:, None, None]
    out = np.zeros_like(x)
    for k in range(width):
        r = np.clip(rows + dy[:, k, None, None], 0, _SIZE - 1)
        c = np.clip(cols + dx[:, k, None, None], 0, _SIZE - 1)
        out += kernel[k] * x[nn, r, c]
    # the reference round-trips through an 8-bit PNG
    return np.round(np.clip(out, 0, 1) * 255) / 255


def shear(x, rng):
    s = 0.4 * rng.choice([-1.0, 1.0], size=len(x))
    m = np.zeros((len(x), 2, 2))
    m[:, 0, 0] = 1.0
    m[:, 0, 1] = -np.sin(s)
    m[:, 1, 1] = np.cos(s)
    return np.clip(_affine(x, m, _about_centre(m)), 0, 1)


def scale(x, rng):
    m = np.tile(np.eye(2) / 0.7, (len(x), 1, 1))
    return np.clip(_affine(x, m, _about_centre(m)), 0, 1)


def rotate(x, rng):
    a = 0.4 * rng.choice([-1.0, 1.0], size=len(x))
    m = np.empty((len(x), 2, 2))
    m[:, 0, 0], m[:, 0, 1] = np.cos(a), -np.sin(a)
    m[:, 1, 0], m[:, 1, 1] = np.sin(a), np.cos(a)
    return np.clip(_affine(x, m, _about_centre(m)), 0, 1)


def brightness(x, rng):
    return np.clip(x + 0.5, 0, 1)


def translate(x, rng):
    t = 3.0 * rng.choice([-1.0, 1.0], size=(len(x), 2))
    m = np.tile(np.eye(2), (len(x), 1, 1))
    return np.clip(_affine(x, m, t), 0, 1)


def stripe(x, rng):
    out = x.copy()
    out[:, :, :7] = 1.0 - out[:, :, :7]
    out[:, :, 21:] = 1.0 - out[:, :, 21:]
    return out


def fog(x, rng, chunk: int = 64):
    strength, decay = 3.0, 1.4
    out = np.empty_like(x)
    for start in range(0, len(x), chunk):
        xs = x[start : start + chunk]
        fractal = _plasma_fractal(len(xs), rng, decay=decay)[:, :_SIZE, :_SIZE]
        max_val = xs.max(axis=(1, 2), keepdims=True)
        out[start : start + chunk] = np.clip(
            (xs + strength * fractal) * max_val / (max_val + strength), 0, 1
        )
    return out


def spatter(x, rng):
    loc, spread, sigma, thresh, sigma_mask = 0.65, 0.3, 1.0, 0.65, 1.5
    liquid = _gaussian(rng.normal(loc, spread, size=x.shape), sigma)
    liquid[liquid < thresh] = 0
    mask = _gaussian((liquid > thresh).astype(np.float64), sigma_mask)
    mask[mask < 0.8] = 0
    return np.clip(x * (1 - mask) + 63 / 255 * mask, 0, 1)


def dotted_line(x, rng):
    out = np.empty_like(x)
    dashes = np.ones(_SIZE)
    for start in range(0, 26, 4):  # columns 0-1, 4-5, ..., 24-25 are gaps
        dashes[start : start + 2] = 0
    ends = rng.integers(0, 27, size=(len(x), 2))
    for k in range(len(x)):
        line = _line_from_points(0, ends[k, 0], 27, ends[k, 1]) * dashes[None, :]
        out[k] = np.clip(x[k] + line, 0, 1)
    return out


def _zigzag_points(r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
    a = b = 2.0  # length and width of the zig-zags
    c0, c1 = 2, 25
    theta = np.arctan((r1 - r0) / (c1 - c0))
    d = (c1 - c0) / np.cos(theta)
    ends = [(0.0, 0.0)]
    r_i = 0.0
    for i in range(int((d - a) // (2 * a)) + 1):
        r_i = (-1) ** i * b
        ends.append(((2 * i + 1) * a, r_i))
    max_c = (2 * a) * (d // (2 * a))
    if d != max_c:
        ends.append((d, r_i / (2 * (d - max_c))))
    pts = np.array(ends).T
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    cs, rs = rot @ pts
    return cs + c0, rs + r0


def zigzag(x, rng):
    out = np.empty_like(x)
    for k in range(len(x)):
        r0 = int(rng.integers(0, 27))
        r1 = r0 + int(rng.integers(-5, 5))
        cs, rs = _zigzag_points(r0, r1)
        img = x[k].copy()
        for i in range(1, len(cs)):
            img = np.clip(img + _line_from_points(cs[i - 1], rs[i - 1], cs[i], rs[i]), 0, 1)
        out[k] = img
    return out


def canny_edges(x, rng):
    return _canny(x).astype(np.float64)


_FUNCTIONS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    name: globals()[name] for name in CORRUPTIONS
}


def corruption_function(name: str) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """The float-level function of a corruption (images in [0, 1], a Generator)."""
    if name not in _FUNCTIONS:
        raise CorruptionError(
            f"unknown corruption {name!r}; choose one of: {', '.join(CORRUPTIONS)}"
        )
    return _FUNCTIONS[name]


def corrupt(images: np.ndarray, name: str, seed: int = 0) -> np.ndarray:
    """Apply MNIST-C corruption ``name`` to uint8 images, deterministically by ``seed``.

    ``images`` is uint8 ``(n, 28, 28)`` or ``(28, 28)`` (float images in [0, 1] are accepted
    and converted); the result is uint8 with the same shape.
    """
    fn = corruption_function(name)
    arr = np.asarray(images)
    if arr.shape[-2:] != (_SIZE, _SIZE) or arr.ndim not in (2, 3):
        raise CorruptionError(
            f"images must have shape (n, 28, 28) or (28, 28), got {arr.shape}; the MNIST-C "
            "parameters are defined for 28x28 grey images"
        )
    if arr.dtype == np.uint8:
        xf = arr.astype(np.float64) / 255.0
    elif arr.dtype.kind == "f":
        if arr.size and (not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1):
            raise CorruptionError(
                "float images must be finite and in [0, 1]; pass uint8 0-255 images instead"
            )
        xf = arr.astype(np.float64)
    else:
        raise CorruptionError(f"images must be uint8 (0-255), got dtype {arr.dtype}")
    single = arr.ndim == 2
    if single:
        xf = xf[None]
    if xf.shape[0] == 0:
        return np.asarray(images, dtype=np.uint8).copy()
    rng = np.random.default_rng([int(seed), CORRUPTIONS.index(name)])
    out = fn(xf, rng)
    out = np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
    return out[0] if single else out

"""Training-time augmentation for images of any size and channel count, on torch batches.

Small random affine moves (rotation, scale, shift) applied on the fly while a classifier or a
denoiser trains. They make a few hundred labeled samples go further and teach a network that
an object a pixel to the left is the same object. This is not the corruption generator of
``scanflow.datasets`` (which produces *drift*); it is the mild jitter every image trainer uses.
Batches are float ``(n, C, H, W)`` in ``[0, 1]``.

Example:
    >>> import torch
    >>> x = torch.zeros(4, 3, 32, 32)
    >>> g = torch.Generator().manual_seed(0)
    >>> random_affine(x, g).shape
    torch.Size([4, 3, 32, 32])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["GENERIC_KINDS", "generic_corruption", "random_affine"]


def random_affine(
    x: torch.Tensor,
    generator: torch.Generator,
    *,
    max_rotation: float = 12.0,
    max_shift: float = 2.0,
    scale: tuple[float, float] = (0.9, 1.1),
) -> torch.Tensor:
    """Rotate (degrees), shift (pixels) and scale each image of ``x`` (n, 1, H, W) at random."""
    n, _, h, w = x.shape
    if n == 0:
        return x
    u = torch.rand(n, 4, generator=generator)
    angle = (u[:, 0] * 2 - 1) * math.radians(max_rotation)
    s = scale[0] + u[:, 1] * (scale[1] - scale[0])
    tx = (u[:, 2] * 2 - 1) * max_shift * 2 / w
    ty = (u[:, 3] * 2 - 1) * max_shift * 2 / h
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack(
        [torch.stack([cos, -sin, tx], dim=1), torch.stack([sin, cos, ty], dim=1)], dim=1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


#: Label-free corruptions a denoiser can be pretrained on without knowing the drift: the
#: generic noise, blur and occlusion every image pipeline is exposed to. None of them is one
#: of the MNIST-C corruptions of ``scanflow.datasets`` (additive Gaussian noise, not Poisson
#: shot noise; isotropic Gaussian blur, not glass or motion blur; erased rectangles).
GENERIC_KINDS: tuple[str, ...] = ("noise", "blur", "erase")


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    n, c = x.shape[:2]
    r = torch.arange(-3, 4, dtype=x.dtype)
    k1 = torch.exp(-(r[None, :] ** 2) / (2 * sigma[:, None] ** 2))
    k1 = k1 / k1.sum(dim=1, keepdim=True)
    k2 = (k1[:, :, None] * k1[:, None, :]).unsqueeze(1)  # (n, 1, 7, 7): one kernel per image
    k2 = k2.repeat_interleave(c, dim=0)  # the same kernel for every channel of an image
    out = F.conv2d(x.reshape(1, n * c, *x.shape[2:]), k2, padding=3, groups=n * c)
    return out.reshape_as(x)


def generic_corruption(
    x: torch.Tensor, generator: torch.Generator, kinds: tuple[str, ...] = GENERIC_KINDS
) -> torch.Tensor:
    """Apply one generic corruption per image (drawn from ``kinds``), at a random strength.

    ``noise``: additive Gaussian noise, std U(0.1, 0.5); ``blur``: Gaussian blur, sigma
    U(0.5, 1.5); ``erase``: one rectangle of 4-14 px per side set to 0 or 1.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> generic_corruption(torch.zeros(3, 3, 20, 24), g).shape
        torch.Size([3, 3, 20, 24])
    """
    bad = [k for k in kinds if k not in GENERIC_KINDS]
    if bad or not kinds:
        raise ValueError(f"unknown generic corruption {bad}; choose from {GENERIC_KINDS}")
    n, _, h, w = x.shape
    if n == 0:
        return x
    pick = torch.randint(len(kinds), (n,), generator=generator)
    out = x.clone()
    for j, kind in enumerate(kinds):
        mask = pick == j
        if not mask.any():
            continue
        chosen = x[mask]
        k = len(chosen)
        if kind == "noise":
            std = 0.1 + 0.4 * torch.rand(k, 1, 1, 1, generator=generator)
            chosen = chosen + std * torch.randn(chosen.shape, generator=generator)
        elif kind == "blur":
            chosen = _gaussian_blur(chosen, 0.5 + torch.rand(k, generator=generator))
        else:  # erase
            size = torch.randint(4, 15, (k, 2), generator=generator)
            top = (torch.rand(k, generator=generator) * (h - size[:, 0])).long()
            left = (torch.rand(k, generator=generator) * (w - size[:, 1])).long()
            rows = torch.arange(h)[None, :, None]
            cols = torch.arange(w)[None, None, :]
            box = (
                (rows >= top[:, None, None])
                & (rows < (top + size[:, 0])[:, None, None])
                & (cols >= left[:, None, None])
                & (cols < (left + size[:, 1])[:, None, None])
            )
            fill = (torch.rand(k, generator=generator) < 0.5).float()[:, None, None]
            chosen = torch.where(box.unsqueeze(1), fill.unsqueeze(1), chosen)
        out[mask] = chosen.clamp(0.0, 1.0)
    return out

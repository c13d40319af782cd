"""Training any torch classifier: the loop behind ``TorchModel.fit_more`` and the strategies.

The module maps a float batch (images ``(n, C, H, W)`` in ``[0, 1]``, or feature rows) to
logits; the loss is cross-entropy, optionally weighted per sample. Images may be jittered by
small random affine moves (a boolean mask says which). ``transform`` is a frozen module applied
to the inputs first (a denoiser the classifier sits behind). The learning rate follows a
one-cycle cosine schedule; everything random draws from ``seed``.

Example:
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    >>> x, y = torch.rand(30, 3, 2, 2), torch.arange(30) % 3
    >>> train_module(net, x, y, epochs=1).training
    False
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .augment import random_affine

__all__ = ["batched_logits", "train_module"]


def _augment_mask(augment: Any, n: int) -> torch.Tensor:
    if isinstance(augment, (bool, np.bool_)):
        return torch.full((n,), bool(augment))
    mask = torch.as_tensor(np.asarray(augment, dtype=bool))
    if len(mask) != n:
        raise ValueError(f"augment mask has {len(mask)} entries for {n} samples")
    return mask


def _jitter(xb: torch.Tensor, mask: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    if xb.ndim != 4 or not mask.any():
        return xb
    if mask.all():
        return random_affine(xb, g)
    xb = xb.clone()
    xb[mask] = random_affine(xb[mask], g)
    return xb


def train_module(module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int = 5,
                 lr: float = 2e-3, batch_size: int = 64, augment: Any = False,
                 sample_weight: Any = None, transform: torch.nn.Module | None = None,
                 seed: int = 0, warmup: float = 0.05) -> torch.nn.Module:
    """Train ``module`` in place on ``(x, y)`` and return it in eval mode (see module doc)."""
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)} labels; pass one label each")
    if len(x) == 0:
        raise ValueError("cannot train on an empty set: x has no samples")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    aug = _augment_mask(augment, len(x))
    weights = (torch.ones(len(x)) if sample_weight is None
               else torch.as_tensor(np.asarray(sample_weight), dtype=torch.float32))
    torch.manual_seed(seed)
    rng = torch.Generator().manual_seed(seed)
    module.train()
    if transform is not None:
        transform.eval()
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=warmup)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=rng)
        for i in range(0, len(x), batch_size):
            idx = order[i: i + batch_size]
            xb = _jitter(x[idx], aug[idx], rng)
            if transform is not None:
                with torch.no_grad():
                    xb = transform(xb)
            loss = (F.cross_entropy(module(xb), y[idx], reduction="none") * weights[idx]).sum()
            loss = loss / weights[idx].sum().clamp_min(1e-8)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    module.eval()
    return module


def batched_logits(module: torch.nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """``module`` in eval mode over ``x`` in batches (no gradients); the mode is restored.

    A served module is already in eval mode: it is not walked again on every call (switching
    modes visits every submodule, ~7 % of a small CNN's forward pass on a micro-batch)."""
    was_training = module.training
    if was_training:
        module.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            outs.append(module(x[i: i + batch_size]))
    if was_training:
        module.train()
    if not outs:
        return torch.zeros(0, 0)
    return torch.cat(outs)

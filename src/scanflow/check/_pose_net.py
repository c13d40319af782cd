"""PyTorch parts of the pose detector: the pose regressor and random affine poses.

Imported only when a torch model is needed (importing :mod:`scanflow.check` must not load
torch). Works on float batches ``(n, C, H, W)`` in [0, 1] of any size and channel count.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

#: The pose parameters the regressor predicts, in this order (each scaled to [-1, 1]).
POSE_PARAMS = ("rotation", "shear", "zoom")


class PoseRegressor(nn.Module):
    """Small CNN: image -> the pose parameters applied to it (``POSE_PARAMS``).

    Two stride-2 convolutions, then a dense head; positions are kept (no global pooling),
    because orientation is a matter of where the strokes are.
    """

    def __init__(self, channels: int, height: int, width: int, base_channels: int = 16,
                 hidden: int = 64):
        super().__init__()
        self.ph, self.pw = (-height) % 4, (-width) % 4
        h4, w4 = (height + self.ph) // 4, (width + self.pw) // 4
        c1, c2 = base_channels, 2 * base_channels
        self.body = nn.Sequential(
            nn.Conv2d(channels, c1, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(c2 * h4 * w4, hidden),
            nn.ReLU(),
            nn.Linear(hidden, len(POSE_PARAMS)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.ph or self.pw:
            x = F.pad(x, (0, self.pw, 0, self.ph))
        return self.body(x)


def random_poses(n: int, generator: torch.Generator, keep_share: float) -> torch.Tensor:
    """Targets ``(n, 3)`` in [-1, 1]: each parameter is 0 with probability ``keep_share``
    (the image keeps its own pose on that axis), else uniform."""
    u = torch.rand(n, len(POSE_PARAMS), generator=generator) * 2 - 1
    keep = torch.rand(n, len(POSE_PARAMS), generator=generator) < keep_share
    return torch.where(keep, torch.zeros_like(u), u)


def apply_poses(x: torch.Tensor, poses: torch.Tensor, max_rotation: float, max_shear: float,
                max_zoom: float) -> torch.Tensor:
    """Rotate (radians), shear (radians) and zoom each image about its centre.

    ``poses`` are scaled targets from :func:`random_poses`; the matrix is built in pixel
    units, so non-square images turn without being stretched.
    """
    n, _, h, w = x.shape
    angle = poses[:, 0] * max_rotation
    shear = poses[:, 1] * max_shear
    zoom = torch.exp(poses[:, 2] * torch.log(torch.tensor(max_zoom)))
    cos, sin = torch.cos(angle), torch.sin(angle)
    # rotation @ shear ([[1, tan s], [0, 1]]), divided by the zoom (the grid maps output
    # pixels back to input pixels, so dividing makes the content larger)
    t = torch.tan(shear)
    a = torch.stack([torch.stack([cos, cos * t - sin], 1),
                     torch.stack([sin, sin * t + cos], 1)], 1) / zoom[:, None, None]
    aspect = torch.tensor([[1.0, h / w], [w / h, 1.0]])  # pixel -> normalised coordinates
    theta = torch.cat([a * aspect, torch.zeros(n, 2, 1)], dim=2)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")

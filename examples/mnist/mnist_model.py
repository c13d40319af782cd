"""The small CNN the MNIST example trains (importable, so that stored models can be rebuilt).

``@register_architecture`` is this code trusting its own class: a process that imports this
module may rebuild a saved ``SmallCNN`` (Scanflow builds no class a model file names otherwise).
"""

from __future__ import annotations

import torch
from torch import nn

from scanflow.models import register_architecture


@register_architecture
class SmallCNN(nn.Module):
    """Two conv blocks and a small classifier head: ~100k parameters, ~97 % on this MNIST split."""

    def __init__(self, channels: int = 16, hidden: int = 64, classes: int = 10):
        super().__init__()
        self.init_kwargs = {"channels": channels, "hidden": hidden, "classes": classes}
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),             # 14x14
            nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 7x7
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * channels * 7 * 7, hidden), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(hidden, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

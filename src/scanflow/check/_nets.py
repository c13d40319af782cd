"""PyTorch autoencoders used by the AE detector (imported only when a torch model is needed)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from scanflow.check.torch_layers import UpConv2x


class ConvAutoencoder(nn.Module):
    """Small conv AE for (C, H, W) images in [0, 1]; the decoder returns logits.

    Two stride-2 convolutions (16 and 32 channels) down to a dense latent of ``latent_dim``
    features, mirrored by transposed convolutions (:class:`~scanflow.check.torch_layers.UpConv2x`:
    sub-pixel convolutions at inference). Inputs whose sides are not multiples of
    4 are zero-padded and the output cropped back.
    """

    def __init__(self, channels: int, height: int, width: int, latent_dim: int = 16,
                 base_channels: int = 16):
        super().__init__()
        self.channels, self.height, self.width = channels, height, width
        self.ph, self.pw = (-height) % 4, (-width) % 4
        h4, w4 = (height + self.ph) // 4, (width + self.pw) // 4
        c1, c2 = base_channels, 2 * base_channels
        self.shape4 = (c2, h4, w4)
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, c1, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(c2 * h4 * w4, latent_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, c2 * h4 * w4),
            nn.ReLU(),
            nn.Unflatten(1, self.shape4),
            UpConv2x(c2, c1),
            nn.ReLU(),
            UpConv2x(c1, channels),
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if self.ph or self.pw:
            x = F.pad(x, (0, self.pw, 0, self.ph))
        return self.encoder(x)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decoder(z)
        return out[:, :, : self.height, : self.width]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_logits(self.encode(x))

    @staticmethod
    def to_output(logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)


class DenseAutoencoder(nn.Module):
    """MLP autoencoder for standardised tabular features (linear output)."""

    def __init__(self, n_features: int, latent_dim: int = 8, hidden: int = 64):
        super().__init__()
        h2 = max(latent_dim, hidden // 2)
        self.encoder = nn.Sequential(
            nn.Linear(n_features, hidden), nn.ReLU(),
            nn.Linear(hidden, h2), nn.ReLU(),
            nn.Linear(h2, latent_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, h2), nn.ReLU(),
            nn.Linear(h2, hidden), nn.ReLU(),
            nn.Linear(hidden, n_features),
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))

    @staticmethod
    def to_output(out: torch.Tensor) -> torch.Tensor:
        return out

"""A denoising autoencoder, and the one-module wrapper that puts it in front of a classifier.

``DenoisingAutoencoder`` maps an image in ``[0, 1]`` to a cleaned image in ``[0, 1]`` (same
shape). ``DenoisedClassifier`` is ``classifier(denoiser(x))`` as a single ``nn.Module`` with
JSON-serialisable constructor arguments, so the tracker stores, registers and serves it like
any other model: a deployed wrapped model needs nothing but itself.

Example:
    >>> import torch
    >>> from scanflow.improve.classifier import MnistCNN
    >>> wrapped = DenoisedClassifier.from_modules(DenoisingAutoencoder(), MnistCNN())
    >>> wrapped(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    >>> sorted(wrapped.get_config())
    ['classifier', 'denoiser']
"""

from __future__ import annotations

import torch
from torch import nn

from .classifier import MnistCNN

__all__ = ["DenoisedClassifier", "DenoisingAutoencoder"]


class DenoisingAutoencoder(nn.Module):
    """A small U-Net that predicts a correction: ``out = clip(x + delta(x), 0, 1)``.

    Encoder 28 → 14 → 7, transposed-convolution decoder back to 28 with additive skip
    connections. Predicting a residual makes the identity (clean input in, same image out)
    the easy default, so wrapping a classifier costs little clean accuracy.
    """

    def __init__(self, *, channels: tuple[int, int] | list[int] = (16, 32)):
        super().__init__()
        c1, c2 = (int(c) for c in channels)
        self.channels = [c1, c2]
        self.enc1 = nn.Sequential(nn.Conv2d(1, c1, 3, padding=1), nn.ReLU())
        self.enc2 = nn.Sequential(nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.ReLU())
        self.enc3 = nn.Sequential(nn.Conv2d(c2, c2, 4, stride=2, padding=1), nn.ReLU())
        self.dec3 = nn.Sequential(nn.ConvTranspose2d(c2, c2, 4, stride=2, padding=1), nn.ReLU())
        self.dec2 = nn.Sequential(nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU())
        self.out = nn.Conv2d(c1, 1, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # start as the identity
        nn.init.zeros_(self.out.bias)

    def get_config(self) -> dict:
        """Constructor keyword arguments (JSON values)."""
        return {"channels": list(self.channels)}

    @property
    def init_kwargs(self) -> dict:
        """Same as :meth:`get_config`: what ``scanflow.track.log_torch_model`` stores."""
        return self.get_config()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        d = self.dec3(self.enc3(e2)) + e2
        d = self.dec2(d) + e1
        return (x + self.out(d)).clamp(0.0, 1.0)


class DenoisedClassifier(nn.Module):
    """``classifier(denoiser(x))``: a classifier behind a denoising filter, as one model.

    Built from the two sub-configs (``denoiser``: :class:`DenoisingAutoencoder` kwargs,
    ``classifier``: :class:`~scanflow.improve.classifier.MnistCNN` kwargs); use
    :meth:`from_modules` to wrap trained modules.
    """

    def __init__(self, *, denoiser: dict | None = None, classifier: dict | None = None):
        super().__init__()
        self.denoiser = DenoisingAutoencoder(**(denoiser or {}))
        self.classifier = MnistCNN(**(classifier or {}))

    @classmethod
    def from_modules(cls, denoiser: DenoisingAutoencoder, classifier: MnistCNN):
        """Wrap trained modules (their weights are copied into the new model)."""
        if not isinstance(denoiser, DenoisingAutoencoder) or not isinstance(classifier, MnistCNN):
            raise TypeError(
                "DenoisedClassifier wraps a DenoisingAutoencoder and an MnistCNN, got "
                f"{type(denoiser).__name__} and {type(classifier).__name__}"
            )
        model = cls(denoiser=denoiser.get_config(), classifier=classifier.get_config())
        model.denoiser.load_state_dict(denoiser.state_dict())
        model.classifier.load_state_dict(classifier.state_dict())
        model.eval()
        return model

    def get_config(self) -> dict:
        """Constructor keyword arguments (JSON values)."""
        return {"denoiser": self.denoiser.get_config(), "classifier": self.classifier.get_config()}

    @property
    def init_kwargs(self) -> dict:
        """Same as :meth:`get_config`: what ``scanflow.track.log_torch_model`` stores."""
        return self.get_config()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.denoiser(x))

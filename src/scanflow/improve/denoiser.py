"""A denoising autoencoder for images of any size and channel count, and the one-module wrapper
that puts it in front of any torch image classifier.

``DenoisingAutoencoder`` maps an image batch ``(n, C, H, W)`` in ``[0, 1]`` to a cleaned batch of
the same shape. ``DenoisedClassifier`` is ``classifier(denoiser(x))`` as a single ``nn.Module``
with JSON constructor arguments (the classifier is named by its architecture and rebuilt only
when that class is trusted, :mod:`scanflow.models.trust`), so the tracker stores, registers and
serves it like any other model: a deployed wrapped model needs nothing but itself.

Example:
    >>> import torch
    >>> from scanflow.improve.classifier import MnistCNN
    >>> wrapped = DenoisedClassifier.from_modules(DenoisingAutoencoder(), MnistCNN())
    >>> wrapped(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    >>> DenoisingAutoencoder(in_channels=3)(torch.rand(1, 3, 30, 30)).shape
    torch.Size([1, 3, 30, 30])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from scanflow.check.torch_layers import UpConv2x
from scanflow.models.trust import architecture_name, register_architecture, resolve_architecture

__all__ = ["DenoisedClassifier", "DenoisingAutoencoder"]

_LEGACY_CLASSIFIER = "scanflow.improve.classifier:MnistCNN"  # configs of Scanflow 0.1


@register_architecture
class DenoisingAutoencoder(nn.Module):
    """A small U-Net that predicts a correction: ``out = clip(x + delta(x), 0, 1)``.

    Encoder H → H/2 → H/4, transposed-convolution decoder back with additive skip connections;
    sides that are not multiples of 4 are padded and cropped back. Predicting a residual makes
    the identity (clean input in, same image out) the easy default, so wrapping a classifier
    costs little clean accuracy.
    """

    def __init__(self, *, channels: tuple[int, int] | list[int] = (16, 32), in_channels: int = 1):
        super().__init__()
        c1, c2 = (int(c) for c in channels)
        self.channels = [c1, c2]
        self.in_channels = int(in_channels)
        k = self.in_channels
        self.enc1 = nn.Sequential(nn.Conv2d(k, c1, 3, padding=1), nn.ReLU())
        self.enc2 = nn.Sequential(nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.ReLU())
        self.enc3 = nn.Sequential(nn.Conv2d(c2, c2, 4, stride=2, padding=1), nn.ReLU())
        self.dec3 = nn.Sequential(UpConv2x(c2, c2), nn.ReLU())
        self.dec2 = nn.Sequential(UpConv2x(c2, c1), nn.ReLU())
        self.out = nn.Conv2d(c1, k, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # start as the identity
        nn.init.zeros_(self.out.bias)

    def get_config(self) -> dict:
        """Constructor keyword arguments (JSON values)."""
        return {"channels": list(self.channels), "in_channels": self.in_channels}

    @property
    def init_kwargs(self) -> dict:
        """Same as :meth:`get_config`: what a saved model records."""
        return self.get_config()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        xp = F.pad(x, (0, (-w) % 4, 0, (-h) % 4))
        e1 = self.enc1(xp)
        e2 = self.enc2(e1)
        d = self.dec3(self.enc3(e2)) + e2
        d = self.dec2(d) + e1
        return (x + self.out(d)[..., :h, :w]).clamp(0.0, 1.0)


def _classifier_config(classifier: nn.Module, init_kwargs: dict | None) -> dict:
    kwargs = init_kwargs
    if kwargs is None:
        kwargs = getattr(classifier, "init_kwargs", None)
    if kwargs is None and callable(getattr(classifier, "get_config", None)):
        kwargs = classifier.get_config()
    if kwargs is None:
        raise TypeError(f"cannot wrap a {type(classifier).__name__}: its constructor arguments "
                        "are unknown (give it an init_kwargs attribute or pass init_kwargs=)")
    return {"architecture": architecture_name(type(classifier)), "init_kwargs": dict(kwargs)}


@register_architecture
class DenoisedClassifier(nn.Module):
    """``classifier(denoiser(x))``: an image classifier behind a denoising filter, as one model.

    ``denoiser``: :class:`DenoisingAutoencoder` kwargs; ``classifier``: ``{"architecture":
    "pkg.mod:Class", "init_kwargs": {...}}``. Use :meth:`from_modules` to wrap trained modules.
    """

    def __init__(self, *, denoiser: dict | None = None, classifier: dict | None = None):
        super().__init__()
        conf = dict(classifier or {})
        if "architecture" not in conf:  # Scanflow 0.1 stored the digit classifier's kwargs
            conf = {"architecture": _LEGACY_CLASSIFIER, "init_kwargs": conf}
        self.classifier_config = conf
        self.denoiser = DenoisingAutoencoder(**(denoiser or {}))
        self.classifier = resolve_architecture(conf["architecture"])(**conf["init_kwargs"])

    @classmethod
    def from_modules(cls, denoiser: DenoisingAutoencoder, classifier: nn.Module,
                     init_kwargs: dict | None = None):
        """Wrap trained modules (their weights are copied into the new model)."""
        if not isinstance(denoiser, DenoisingAutoencoder) or not isinstance(classifier, nn.Module):
            raise TypeError("DenoisedClassifier wraps a DenoisingAutoencoder and an nn.Module, "
                            f"got {type(denoiser).__name__} and {type(classifier).__name__}")
        if type(classifier).__module__ != "__main__":
            register_architecture(type(classifier))  # the user's code built it: trusted here
        model = cls(denoiser=denoiser.get_config(),
                    classifier=_classifier_config(classifier, init_kwargs))
        model.denoiser.load_state_dict(denoiser.state_dict())
        model.classifier.load_state_dict(classifier.state_dict())
        model.eval()
        return model

    def get_config(self) -> dict:
        """Constructor keyword arguments (JSON values)."""
        return {"denoiser": self.denoiser.get_config(), "classifier": self.classifier_config}

    @property
    def init_kwargs(self) -> dict:
        """Same as :meth:`get_config`: what a saved model records."""
        return self.get_config()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.denoiser(x))

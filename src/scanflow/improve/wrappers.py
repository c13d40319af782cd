"""Torch wrappers that put a fixed input transform in front of any classifier, as one module.

:class:`AlignedClassifier` is ``classifier(x * scale + shift)`` for table models: the
zero-label ``align`` method's candidate for a torch table model. Like
:class:`~scanflow.improve.denoiser.DenoisedClassifier`, the inner classifier is named by its
architecture and rebuilt only when that class is trusted.

Example:
    >>> import torch
    >>> m = AlignedClassifier(features=2, classifier={"architecture":
    ...     "torch.nn.modules.linear:Linear", "init_kwargs": {"in_features": 2, "out_features": 3}})
    >>> m(torch.zeros(4, 2)).shape
    torch.Size([4, 3])
"""

from __future__ import annotations

import torch
from torch import nn

from scanflow.models.trust import architecture_name, register_architecture, resolve_architecture

__all__ = ["AlignedClassifier"]


@register_architecture
class AlignedClassifier(nn.Module):
    """``classifier(x * scale + shift)`` with per-feature ``scale`` and ``shift`` buffers."""

    def __init__(self, *, features: int, classifier: dict):
        super().__init__()
        self.features = int(features)
        self.classifier_config = dict(classifier)
        self.register_buffer("scale", torch.ones(self.features))
        self.register_buffer("shift", torch.zeros(self.features))
        self.classifier = resolve_architecture(classifier["architecture"])(**classifier["init_kwargs"])

    @classmethod
    def from_aligner(cls, aligner, model) -> AlignedClassifier:
        """Wrap the module of the torch adapter ``model`` with the columns of ``aligner``."""
        names = list(model.schema.names)
        inner = model.native
        if type(inner).__module__ != "__main__":
            register_architecture(type(inner))
        wrapped = cls(features=len(names), classifier={
            "architecture": architecture_name(type(inner)), "init_kwargs": dict(model.init_kwargs)})
        wrapped.classifier.load_state_dict(inner.state_dict())
        for col, a, b in zip(aligner.columns, aligner.scale, aligner.shift, strict=True):
            j = names.index(col)
            wrapped.scale[j], wrapped.shift[j] = float(a), float(b)
        return wrapped.eval()

    def get_config(self) -> dict:
        return {"features": self.features, "classifier": self.classifier_config}

    @property
    def init_kwargs(self) -> dict:
        return self.get_config()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x * self.scale + self.shift)

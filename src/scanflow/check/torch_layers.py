"""PyTorch layers shared by Scanflow's own networks (the detector's and the denoiser's).

:class:`UpConv2x` is a ``ConvTranspose2d(kernel_size=4, stride=2, padding=1)`` (same weights,
same state-dict keys, same outputs) whose inference runs as the equivalent 3×3 convolution
followed by a pixel shuffle ("sub-pixel" convolution). PyTorch's CPU transposed convolution is
slow on small inputs: a single 28×28 image through the detector's decoder took 0.22 ms, the
sub-pixel form 0.13 ms, which is what a served request pays for being checked inline. Training
(and any pass that needs gradients) runs the transposed convolution itself.

Example::

    >>> import torch
    >>> up = UpConv2x(8, 4).eval()
    >>> x = torch.randn(2, 8, 7, 7)
    >>> with torch.no_grad():
    ...     fast = up(x)
    ...     exact = torch.nn.functional.conv_transpose2d(x, up.weight, up.bias, stride=2, padding=1)
    >>> fast.shape, bool(torch.allclose(fast, exact, atol=1e-5))
    (torch.Size([2, 4, 14, 14]), True)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["UpConv2x", "subpixel_weights"]

# For an output row 2m + a, the input rows m + d that reach it and the kernel row they use.
_TAPS = {0: {0: 1, -1: 3}, 1: {1: 0, 0: 2}}


def subpixel_weights(weight: torch.Tensor, bias: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The 3×3 convolution (``4 * out`` channels) that, pixel-shuffled by 2, equals the
    transposed convolution of ``weight`` (``(in, out, 4, 4)``, stride 2, padding 1)."""
    cin, cout = weight.shape[:2]
    w3 = weight.new_zeros(cout, 2, 2, cin, 3, 3)
    for a, rows in _TAPS.items():
        for b, cols in _TAPS.items():
            for d, ky in rows.items():
                for e, kx in cols.items():
                    w3[:, a, b, :, d + 1, e + 1] = weight[:, :, ky, kx].T
    return w3.reshape(4 * cout, cin, 3, 3).contiguous(), None if bias is None else bias.repeat_interleave(4)


class UpConv2x(nn.ConvTranspose2d):
    """``ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1)``, doubling H and W;
    without gradients it runs as the equivalent sub-pixel convolution (weights derived once per
    change of the parameters)."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__(in_channels, out_channels, 4, stride=2, padding=1, bias=bias)
        self._subpixel: tuple | None = None

    def _subpixel_weights(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        bias = self.bias
        key = (self.weight.data_ptr(), self.weight._version,
               None if bias is None else (bias.data_ptr(), bias._version))
        if self._subpixel is None or self._subpixel[0] != key:
            self._subpixel = (key, *subpixel_weights(self.weight.detach(),
                                                     None if bias is None else bias.detach()))
        return self._subpixel[1], self._subpixel[2]

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if output_size is not None or torch.is_grad_enabled() or x.dim() != 4:
            return super().forward(x, output_size)
        weight, bias = self._subpixel_weights()
        return F.pixel_shuffle(F.conv2d(x, weight, bias, padding=1), 2)

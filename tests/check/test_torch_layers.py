"""UpConv2x: a transposed convolution whose inference runs as a sub-pixel convolution."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from scanflow.check.torch_layers import UpConv2x


def _exact(up: UpConv2x, x: torch.Tensor) -> torch.Tensor:
    return F.conv_transpose2d(x, up.weight, up.bias, stride=2, padding=1)


@pytest.mark.parametrize(("cin", "cout", "h", "w", "bias"),
                         [(32, 16, 7, 7, True), (16, 1, 14, 14, True), (3, 5, 5, 9, False), (1, 1, 1, 1, True)])
def test_inference_equals_the_transposed_convolution(cin, cout, h, w, bias):
    torch.manual_seed(0)
    up = UpConv2x(cin, cout, bias=bias).eval()
    x = torch.randn(4, cin, h, w)
    with torch.inference_mode():
        fast = up(x)
    assert fast.shape == (4, cout, 2 * h, 2 * w)
    torch.testing.assert_close(fast, _exact(up, x).detach(), atol=1e-5, rtol=1e-5)


def test_training_runs_the_transposed_convolution_and_its_gradients_reach_the_weights():
    up = UpConv2x(4, 2)
    x = torch.randn(3, 4, 6, 6)
    up(x).square().mean().backward()
    assert up.weight.grad is not None and up.weight.grad.abs().sum() > 0


def test_weights_changed_by_an_optimizer_step_are_used_at_the_next_inference():
    torch.manual_seed(1)
    up = UpConv2x(4, 2)
    x = torch.randn(2, 4, 5, 5)
    with torch.no_grad():
        before = up(x)
    opt = torch.optim.SGD(up.parameters(), lr=1.0)
    up(x).sum().backward()
    opt.step()
    with torch.no_grad():
        after = up(x)
        torch.testing.assert_close(after, _exact(up, x), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(before, after)


def test_a_state_dict_of_a_plain_transposed_convolution_loads_and_gives_the_same_outputs():
    torch.manual_seed(2)
    plain = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
    up = UpConv2x(8, 4)
    up.load_state_dict(plain.state_dict())
    assert set(up.state_dict()) == set(plain.state_dict())
    x = torch.randn(2, 8, 7, 7)
    with torch.no_grad():
        torch.testing.assert_close(up(x), plain(x), atol=1e-5, rtol=1e-5)

"""Dynamic and adaptive layers against plain torch layers (brute-force references) and their `to_plain()`.

The reference for every layer is the plain torch forward with all of the layer's weights
(`nn.Linear.forward(layer, x)`): a dynamic output equals it times the eval gain of each unit
(1, …, 1, √f, 0, …); an adaptive layer equals it on an input whose dead units are zeroed.
"""

import math

import pytest
import torch
from torch import nn

from leanspeech.nn.dynamic import (
    AdaptiveConv1d,
    AdaptiveConv2d,
    AdaptiveLinear,
    DynamicConv1d,
    DynamicConv2d,
    DynamicLinear,
)
from leanspeech.nn.dynamic_adaptive import AdaptiveBatchNorm1d, AdaptiveBatchNorm2d, AdaptiveGRU

TOL = 1e-5
K_OUT, K_IN = 6.4, 4.7  # live widths 7 of 10 (output) and 5 of 8 (input)


def source_at(units: int, k: float) -> DynamicLinear:
    """A dynamic layer used only as the width source of an adaptive layer."""
    layer = DynamicLinear(3, units)
    layer.width.set_relative_(k / units)
    return layer


def zero_dead(x: torch.Tensor, live: int, dim: int) -> torch.Tensor:
    x = x.clone()
    x.narrow(dim, live, x.size(dim) - live).zero_()
    return x


def eval_gain(units: int, k: float, dim: int, ndim: int) -> torch.Tensor:
    whole = math.floor(k)
    gain = torch.zeros(units)
    gain[:whole] = 1.0
    gain[whole] = math.sqrt(k - whole)
    shape = [1] * ndim
    shape[dim] = units
    return gain.view(shape)


# (builder taking a width source, plain type, input shape, unit dim, dynamic output?, adaptive input?)
CASES = {
    "dyn-linear": (lambda s: DynamicLinear(8, 10), nn.Linear, (4, 5, 8), -1, True, False),
    "ada-linear": (lambda s: AdaptiveLinear(s, 10), nn.Linear, (4, 5, 8), -1, False, True),
    "dyn-ada-linear": (lambda s: DynamicLinear(8, 10, source=s), nn.Linear, (4, 5, 8), -1, True, True),
    "dyn-conv1d": (lambda s: DynamicConv1d(8, 10, 3, padding=1), nn.Conv1d, (4, 8, 9), -2, True, False),
    "ada-conv1d": (lambda s: AdaptiveConv1d(s, 10, 3, dilation=2), nn.Conv1d, (4, 8, 9), -2, False, True),
    "dyn-ada-conv1d-unbatched": (
        lambda s: DynamicConv1d(8, 10, 3, stride=2, padding_mode="reflect", padding=1, source=s),
        nn.Conv1d, (8, 9), -2, True, True,
    ),
    "dyn-conv2d": (lambda s: DynamicConv2d(8, 10, (3, 2), stride=(2, 1), padding=1), nn.Conv2d, (4, 8, 9, 6), -3, True, False),
    "ada-conv2d": (lambda s: AdaptiveConv2d(s, 10, 3, padding="same", bias=False), nn.Conv2d, (4, 8, 9, 6), -3, False, True),
    "dyn-ada-conv2d": (lambda s: DynamicConv2d(8, 10, 3, source=s), nn.Conv2d, (4, 8, 9, 6), -3, True, True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_equals_plain_forward_and_its_consolidated_layer(case):
    build, plain_type, shape, dim, dynamic, adaptive = CASES[case]
    torch.manual_seed(0)
    layer = build(source_at(8, K_IN)).eval()
    if dynamic:
        layer.width.set_relative_(K_OUT / 10)
    x = torch.randn(shape)
    x_seen = zero_dead(x, 5, dim) if adaptive else x
    expected = plain_type.forward(layer, x_seen)
    if dynamic:
        expected = expected * eval_gain(10, K_OUT, dim, expected.dim())
    out = layer(x)
    assert out.shape == expected.shape
    assert (out - expected).abs().max() < TOL

    plain = layer.to_plain()
    assert type(plain) is plain_type
    live_out = 7 if dynamic else 10
    assert plain.weight.shape[:2] == (live_out, 5 if adaptive else 8)
    plain_out = plain(x.narrow(dim, 0, 5) if adaptive else x)
    assert (plain_out - expected.narrow(dim, 0, live_out)).abs().max() < TOL


def test_adaptive_layer_ignores_dead_inputs_and_dynamic_tail_is_zero_in_training():
    torch.manual_seed(1)
    first = DynamicConv1d(4, 8, 1)
    first.width.set_relative_(5.5 / 8)
    second = AdaptiveConv1d(first, 3, 3)
    h = first(torch.randn(2, 4, 11))
    assert torch.equal(h[:, 6:], torch.zeros(2, 2, 11))
    garbage = h.detach().clone()
    garbage[:, 6:] = 100.0
    assert torch.equal(second(garbage), second(h.detach()))


def test_adaptive_layer_rejects_an_input_of_the_wrong_width():
    layer = AdaptiveLinear(source_at(8, K_IN), 3)
    with pytest.raises(ValueError, match="expects 8 units"):
        layer(torch.randn(2, 5))


@pytest.mark.parametrize("batch_first, bidirectional, num_layers, unbatched", [
    (False, False, 1, False),
    (True, True, 2, False),
    (True, False, 2, True),
])
def test_adaptive_gru_equals_nn_gru_on_zeroed_dead_inputs(batch_first, bidirectional, num_layers, unbatched):
    torch.manual_seed(2)
    gru = AdaptiveGRU(source_at(8, K_IN), 6, num_layers=num_layers, batch_first=batch_first, bidirectional=bidirectional)
    reference = nn.GRU(8, 6, num_layers=num_layers, batch_first=batch_first, bidirectional=bidirectional)
    reference.load_state_dict(gru.state_dict())
    x = torch.randn((7, 8) if unbatched else ((3, 7, 8) if batch_first else (7, 3, 8)))
    hx = torch.randn((num_layers * (2 if bidirectional else 1),) + (() if unbatched else (3,)) + (6,))
    out, h = gru(x, hx)
    ref_out, ref_h = reference(zero_dead(x, 5, -1), hx)
    assert (out - ref_out).abs().max() < TOL and (h - ref_h).abs().max() < TOL
    plain = gru.to_plain()
    assert type(plain) is nn.GRU and plain.input_size == 5
    plain_out, plain_h = plain(x[..., :5], hx)
    assert (plain_out - ref_out).abs().max() < TOL and (plain_h - ref_h).abs().max() < TOL


def test_adaptive_gru_gradient_reaches_only_live_input_columns():
    gru = AdaptiveGRU(source_at(8, K_IN), 4)
    out, _ = gru(torch.randn(5, 2, 8))
    out.sum().backward()
    assert gru.weight_ih_l0.grad[:, 5:].abs().max() == 0
    assert gru.weight_ih_l0.grad[:, :5].abs().max() > 0


@pytest.mark.parametrize("bn_type, plain_type, shape", [
    (AdaptiveBatchNorm1d, nn.BatchNorm1d, (6, 8)),
    (AdaptiveBatchNorm1d, nn.BatchNorm1d, (6, 8, 5)),
    (AdaptiveBatchNorm2d, nn.BatchNorm2d, (6, 8, 5, 3)),
])
def test_adaptive_batchnorm_trains_and_evaluates_like_batchnorm_on_live_channels(bn_type, plain_type, shape):
    torch.manual_seed(3)
    bn = bn_type(source_at(8, K_IN))
    reference = plain_type(5)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-1, 1)
        reference.weight.copy_(bn.weight[:5])
        reference.bias.copy_(bn.bias[:5])
    for _ in range(3):
        x = 3.0 + 2.0 * torch.randn(shape)
        out = bn(x)
        assert (out[:, :5] - reference(x[:, :5])).abs().max() < TOL
        assert torch.equal(out[:, 5:], torch.zeros_like(out[:, 5:]))
    assert torch.allclose(bn.running_mean[:5], reference.running_mean)
    assert torch.equal(bn.running_mean[5:], torch.zeros(3))  # dead channels keep their statistics
    assert int(bn.num_batches_tracked) == 3
    bn.eval(), reference.eval()
    x = torch.randn(shape)
    assert (bn(x)[:, :5] - reference(x[:, :5])).abs().max() < TOL
    plain = bn.to_plain().eval()
    assert type(plain) is plain_type and (plain(x[:, :5]) - reference(x[:, :5])).abs().max() < TOL


def test_dynamic_layers_move_with_their_model_and_save_their_width():
    layer = DynamicLinear(4, 6)
    layer.width.set_relative_(0.5)
    state = layer.state_dict()
    assert set(state) == {"weight", "bias", "width.fraction"}
    copy = DynamicLinear(4, 6)
    copy.load_state_dict(state)
    assert copy.width.live_units() == 3
    adaptive = AdaptiveLinear(layer, 2)
    assert set(adaptive.state_dict()) == {"weight", "bias"}  # the width belongs to its owner
    model = nn.Sequential(layer, adaptive).double()
    assert model(torch.randn(2, 4, dtype=torch.float64)).dtype == torch.float64
    assert adaptive.source is layer.width

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from leanspeech.models.quality_cnn import QualityCNN
from leanspeech.nn.binary import (
    BinaryActivation, BinaryActivationSTE, BinaryConv2d, binary_conv_cost, heaviside_ste, heaviside_superspike,
    superspike_surrogate,
)
from leanspeech.profile.counter import count
from leanspeech.profile.rules import rule_for


def test_superspike_forward_is_heaviside_and_gradient_matches_fast_sigmoid_derivative():
    x = torch.linspace(-3, 3, 601, dtype=torch.float64).requires_grad_()
    beta = 5.0
    y = heaviside_superspike(x, beta)
    assert torch.equal(y.detach(), (x > 0).double())
    (grad,) = torch.autograd.grad(y.sum(), x)
    # SuperSpike's surrogate is the derivative of the fast sigmoid x / (1 + β|x|): autograd of that function
    reference_x = x.detach().clone().requires_grad_()
    (reference,) = torch.autograd.grad((reference_x / (1 + beta * reference_x.abs())).sum(), reference_x)
    torch.testing.assert_close(grad, reference)
    torch.testing.assert_close(grad, superspike_surrogate(x.detach(), beta))
    assert math.isclose(grad[300].item(), 1.0) and math.isclose(grad[400].item(), 1 / (beta * 1.0 + 1) ** 2)


def test_beta_is_per_layer():
    sharp, soft = BinaryActivation(beta=20.0), BinaryActivation(beta=1.0)
    x = torch.full((3,), 0.5, requires_grad=True)
    (g_sharp,) = torch.autograd.grad(sharp(x).sum(), x)
    (g_soft,) = torch.autograd.grad(soft(x).sum(), x)
    assert torch.allclose(g_sharp, torch.full((3,), 1 / 11**2)) and torch.allclose(g_soft, torch.full((3,), 1 / 1.5**2))
    assert BinaryActivation().beta == 5.0 and not hasattr(BinaryActivation, "beta")


def test_straight_through_estimator_passes_gradient_inside_unit_interval():
    x = torch.tensor([-2.0, -1.0, -0.3, 0.0, 0.4, 1.0, 1.5], requires_grad=True)
    y = BinaryActivationSTE()(x)
    assert y.tolist() == [0, 0, 0, 0, 1, 1, 1]
    (grad,) = torch.autograd.grad((y * torch.arange(7.0)).sum(), x)
    assert grad.tolist() == [0, 1, 2, 3, 4, 5, 0]
    assert torch.equal(heaviside_ste(x).detach(), y.detach())


def test_binary_conv_uses_scaled_signs_of_latent_weights():
    torch.manual_seed(0)
    conv = BinaryConv2d(4, 6, 3, padding=1)
    x = torch.randn(2, 4, 7, 5)
    scale = math.sqrt(2 / (4 * 9))
    expected = F.conv2d(x, torch.where(conv.weight > 0, scale, -scale), conv.bias, padding=1)
    torch.testing.assert_close(conv(x), expected)
    torch.testing.assert_close(conv.effective_weight().abs(), torch.full_like(conv.weight, scale))
    # gradient to the latent weight: 2·scale·surrogate(w) times the float-weight gradient
    conv(x).sum().backward()
    w = conv.weight.detach().clone().requires_grad_()
    F.conv2d(x, w, conv.bias.detach(), padding=1).sum().backward()
    torch.testing.assert_close(conv.weight.grad, w.grad * 2 * scale * superspike_surrogate(conv.weight.detach(), 5.0))


def test_quality_cnn_builds_with_binary_activation_and_its_maps_are_binary():
    model = QualityCNN(activation="BinaryActivation", pool="avg").eval()
    maps = []
    model.blocks[1].activation.register_forward_hook(lambda m, i, o: maps.append(o))
    model(torch.randn(1, 120, 40))
    assert set(maps[0].unique().tolist()) <= {0.0, 1.0}


def test_profile_rules_report_binary_macs_and_one_bit_activations():
    from leanspeech.compress.binarize import binarize_weights

    model = binarize_weights(QualityCNN(activation="BinaryActivation", pool="avg")).eval()
    x = torch.randn(1, 120, 449)
    result = count(model, lambda: model(x))
    rows = {r.name: r for r in result.layers}
    # Table 1 of bam-qat-sqp.md (449×120 input): conv multiply-adds including one bias add per output
    table1 = [17_241_600, 124_293_120, 31_073_280, 15_536_640]
    outputs = [1_724_160, 430_080, 107_520, 53_760]
    for i, (macs, bias) in enumerate(zip(table1, outputs)):
        conv = rows[f"blocks.{i}.conv"]
        assert conv.binary_macs == macs - bias and conv.macs == bias
        act = rows[f"blocks.{i}.activation"]
        assert act.activation_bits == 1 and act.activations == bias
    assert rule_for(model.blocks[0].activation) is not None


def test_plain_conv_fed_by_binary_map_counts_binary_macs():
    conv = nn.Conv2d(8, 4, 3, padding=1)
    binary_input = (torch.randn(1, 8, 10, 6) > 0).float()
    cost = binary_conv_cost(conv, binary_input, conv(binary_input))
    outputs = 4 * 10 * 6
    assert cost.binary_macs == outputs * 8 * 9 and cost.macs == outputs
    float_cost = binary_conv_cost(conv, torch.randn(1, 8, 10, 6), conv(binary_input))
    assert float_cost.binary_macs == 0 and float_cost.macs == outputs * (8 * 9 + 1)


@pytest.mark.parametrize("activation", [BinaryActivation, BinaryActivationSTE])
def test_tiny_binary_cnn_learns_a_synthetic_regression(activation):
    torch.manual_seed(0)
    # target: the fraction of an image's pixels that exceed 0.5 — learnable from binary feature maps
    x = torch.rand(96, 1, 6, 6)
    y = (x > 0.5).float().mean(dim=(1, 2, 3), keepdim=True).flatten(1) * 4
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), activation(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 1)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    initial = F.mse_loss(model(x), y).item()
    for _ in range(100):
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05 * initial

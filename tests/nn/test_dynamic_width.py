"""Eq. 1 of width-noise-injection.md: which units pass, the boundary unit's noise, gradients of K."""

import math

import pytest
import torch

from leanspeech.nn.dynamic import DynamicLinear
from leanspeech.nn.dynamic_width import LayerWidth, inject_width_noise


def make_width(units: int, relative: float, min_fraction: float = 0.0625) -> LayerWidth:
    width = LayerWidth(units, min_fraction)
    width.set_relative_(relative)
    return width


def test_clean_units_pass_boundary_is_noisy_and_the_rest_are_exactly_zero():
    torch.manual_seed(0)
    width = make_width(8, 4.3 / 8)  # K = 4.3: units 0..3 clean, unit 4 noisy, 5..7 zero
    assert width.live_units() == 5
    y = torch.randn(64, 5)
    out = width(y, dim=-1)
    assert out.shape == (64, 8)
    assert torch.equal(out[:, :4], y[:, :4])
    assert torch.equal(out[:, 5:], torch.zeros(64, 3))
    assert not torch.allclose(out[:, 4], y[:, 4] * math.sqrt(0.3))


def test_boundary_unit_statistics_follow_eq1():
    # η = √f·ξ + √(1−f)·σ_ξ·ν: regression of η on ξ is √f, residual variance (1−f)·σ².
    torch.manual_seed(1)
    f = 0.3
    width = make_width(4, (3 + f) / 4)
    xi = 2.0 * torch.randn(200_000, 4)
    eta = width(xi, dim=-1)[:, 3]
    slope = (eta * xi[:, 3]).mean() / (xi[:, 3] ** 2).mean()
    residual = eta - slope * xi[:, 3]
    assert slope.item() == pytest.approx(math.sqrt(f), abs=0.01)
    assert residual.var().item() == pytest.approx((1 - f) * 4.0, rel=0.02)


def test_eval_is_deterministic_and_scales_the_boundary_by_sqrt_f():
    width = make_width(6, 2.25 / 6).eval()
    y = torch.randn(10, 3, 7)  # units along dim 1
    out = width(y, dim=1)
    expected = torch.cat([y[:, :2], y[:, 2:3] * math.sqrt(0.25), torch.zeros(10, 3, 7)], dim=1)
    assert torch.allclose(out, expected)
    assert torch.equal(out, width(y, dim=1))


def test_integer_width_has_no_boundary_unit():
    width = make_width(80, 0.8)  # 0.8·80 is 64.000000000000004 in float: must still be 64 units
    assert width.live_units() == 64
    assert width.boundary_gain() == 1.0
    y = torch.randn(3, 64)
    assert torch.equal(width.train()(y, dim=-1)[:, :64], y)


def test_width_is_clamped_to_its_minimum_and_at_least_one_unit():
    width = LayerWidth(16, min_fraction=0.25)
    width.fraction.data.fill_(-3.0)
    assert width.k().item() == pytest.approx(4.0)
    width.project_()
    assert width.fraction.item() == pytest.approx(0.25)
    tiny = LayerWidth(4, min_fraction=0.01)
    tiny.set_relative_(0.0)
    assert tiny.live_units() == 1
    with pytest.raises(ValueError):
        LayerWidth(8, min_fraction=0.0)


def test_penalty_gradient_pushes_k_down_and_task_gradient_pushes_it_up():
    torch.manual_seed(2)
    layer = DynamicLinear(6, 6, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(6))
    layer.width.set_relative_(4.5 / 6)
    (layer.width.relative() ** 2).backward()
    assert layer.width.fraction.grad.item() > 0  # descent lowers λ

    layer.width.fraction.grad = None
    x = torch.randn(4096, 6)
    reconstruction = ((layer(x) - x) ** 2).mean()  # more live units, less error
    reconstruction.backward()
    assert layer.width.fraction.grad.item() < 0  # descent raises λ


def test_inject_width_noise_rejects_a_wrong_number_of_live_units():
    with pytest.raises(ValueError, match="expected 3 live units"):
        inject_width_noise(torch.randn(2, 5), torch.tensor(2.5), dim=-1, training=False)

"""The λ penalty (plain and FLOP/s-weighted) and the two-phase width schedule."""

import pytest
import torch
from torch import nn

from leanspeech.compress.width import WidthSchedule, dynamic_widths, flop_weights, parameter_groups, width_penalty
from leanspeech.nn.dynamic import AdaptiveLinear, DynamicLinear


def three_layers() -> nn.Sequential:
    first = DynamicLinear(10, 8, min_fraction=0.25)
    second = DynamicLinear(8, 6, source=first, min_fraction=0.5)
    return nn.Sequential(first, nn.ReLU(), second, AdaptiveLinear(second, 2))


def test_penalty_is_beta_over_n_sum_of_squared_relative_widths():
    model = three_layers()
    model[0].width.set_relative_(0.5)
    model[2].width.set_relative_(0.75)
    assert width_penalty(model, 2.0).item() == pytest.approx(2.0 / 2 * (0.5**2 + 0.75**2))
    weighted = width_penalty(model, 2.0, {"0.width": 3.0, "2.width": 1.0})
    assert weighted.item() == pytest.approx(2.0 * (3 * 0.5**2 + 0.75**2) / 4)
    assert width_penalty(nn.Linear(2, 2), 1.0).item() == 0.0
    with pytest.raises(KeyError, match="2.width"):
        width_penalty(model, 1.0, {"0.width": 1.0})


def test_flop_weights_are_the_full_width_flops_of_the_layers_each_width_touches():
    model = three_layers()
    model[0].width.set_relative_(0.5)
    weights = flop_weights(model, torch.randn(3, 10))
    # moduleprofiler: a Linear with bias costs rows·out·2·in FLOPs.
    first, second, last = 3 * 8 * 2 * 10, 3 * 6 * 2 * 8, 3 * 2 * 2 * 6
    assert weights == {"0.width": first + second, "2.width": second + last}
    assert model[0].width.relative().item() == pytest.approx(0.5)  # widths are restored
    assert model.training


def test_schedule_freezes_widths_then_learns_them_under_the_penalty():
    torch.manual_seed(0)
    model = three_layers()
    model[0].width.set_relative_(0.6)
    schedule = WidthSchedule(model, beta=1.0, fixed_until=3)
    optimizer = torch.optim.Adam(parameter_groups(model, weight_decay=0.01), lr=0.1)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.01, 0.0]
    assert len(optimizer.param_groups[1]["params"]) == 2
    x = torch.randn(16, 10)
    fractions = []
    for step in range(8):
        penalty = schedule.penalty(step)
        assert (penalty.item() > 0) == (step >= 3)
        loss = model(x).pow(2).mean() + penalty
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.project()
        fractions.append([w.fraction.item() for w in dynamic_widths(model).values()])
    assert fractions[2] == [1.0, 1.0]  # fixed phase: reset to full width, frozen
    assert all(f < 1.0 for f in fractions[-1])  # learning phase: the penalty shrinks them
    assert fractions[-1][0] >= 0.25 and fractions[-1][1] >= 0.5  # never below the minimum


def test_negative_beta_is_refused():
    with pytest.raises(ValueError, match="beta"):
        WidthSchedule(three_layers(), beta=-1.0, fixed_until=0)

"""Pruning scores: Taylor (grad·w)² and kernel-L1 magnitude against hand computations, and their EMA."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune

from leanspeech.compress.importance import (
    SmoothedImportance,
    channel_importance,
    magnitude_importance,
    taylor_importance,
)


def test_taylor_importance_is_squared_gradient_times_weight():
    torch.manual_seed(0)
    layer = nn.Linear(4, 3)
    x, y = torch.randn(8, 4), torch.randn(8, 3)
    nn.functional.mse_loss(layer(x), y).backward()
    expected = (layer.weight.grad * layer.weight.detach()) ** 2
    torch.testing.assert_close(taylor_importance(layer, "weight"), expected)
    # By hand: dL/dW = 2/(N·out) · (Wx + b − y)ᵀ x
    residual = layer(x).detach() - y
    grad = 2.0 / residual.numel() * residual.T @ x
    torch.testing.assert_close(taylor_importance(layer, "weight"), (grad * layer.weight.detach()) ** 2)


def test_taylor_importance_after_masking_scores_pruned_weights_zero():
    torch.manual_seed(1)
    layer = nn.Linear(5, 2)
    mask = torch.ones(2, 5)
    mask[0, 1] = mask[1, 3] = 0
    prune.custom_from_mask(layer, "weight", mask)
    x = torch.randn(6, 5)
    layer(x).pow(2).sum().backward()
    grad_effective = 2 * layer(x).detach().T @ x  # d/dW of Σ (Wx + b)²
    expected = (grad_effective * layer.weight_orig.detach() * mask) ** 2
    scores = taylor_importance(layer, "weight")
    torch.testing.assert_close(scores, expected)
    assert scores[0, 1] == 0 and scores[1, 3] == 0


def test_magnitude_is_abs_for_matrices_and_kernel_l1_for_convolutions():
    linear = nn.Linear(3, 2)
    torch.testing.assert_close(magnitude_importance(linear, "weight"), linear.weight.detach().abs())
    conv = nn.Conv2d(2, 3, 3)
    scores = magnitude_importance(conv, "weight")
    assert scores.shape == conv.weight.shape
    for out in range(3):
        for inp in range(2):
            expected = conv.weight[out, inp].detach().abs().sum()
            assert torch.allclose(scores[out, inp], expected.expand(3, 3))
    per_channel = channel_importance(scores)
    torch.testing.assert_close(per_channel, 9 * conv.weight.detach().abs().sum(dim=(1, 2, 3)))


def test_smoothed_importance_is_a_recursive_average():
    layer = nn.Linear(2, 1)
    values = iter([torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 0.0]]), torch.tensor([[5.0, 4.0]])])
    smoothed = SmoothedImportance([(layer, "weight")], lambda module, name: next(values), smoothing=0.9)
    smoothed.update()
    smoothed.update()
    smoothed.update()
    first = torch.tensor([1.0, 2.0])
    second = 0.9 * first + 0.1 * torch.tensor([3.0, 0.0])
    third = 0.9 * second + 0.1 * torch.tensor([5.0, 4.0])
    torch.testing.assert_close(smoothed.scores[0].flatten(), third)
    restored = SmoothedImportance([(layer, "weight")], taylor_importance, 0.9)
    restored.load_state_dict(smoothed.state_dict())
    torch.testing.assert_close(restored.scores[0], smoothed.scores[0])

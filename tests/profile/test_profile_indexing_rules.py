"""Lookup, upsampling, fold / unfold and unpooling rules against explicit loops and Jacobians."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from leanspeech.profile.model_profile import profile_model
from leanspeech.profile.rules import rule_for


def cost_of(module, *inputs):
    with torch.no_grad():
        out = module(*inputs)
    return rule_for(module)(module, inputs, out), out


def test_embedding_lookup_is_free_and_writes_its_rows():
    layer = nn.Embedding(10, 4)
    profile = profile_model(layer, torch.tensor([[1, 2, 3], [1, 1, 0]]))
    assert profile.complete and profile.macs == profile.flops == 0
    assert profile.activations == 3 * 4  # per sample


def test_embedding_max_norm_against_a_renormalising_loop(ops):
    layer = nn.Embedding(10, 4, max_norm=1.0, norm_type=3.0)
    indices = torch.tensor([[1, 2, 3], [1, 1, 0]])
    weight = layer.weight.detach().clone()
    for row in torch.unique(indices).tolist():  # torch renormalises each distinct looked-up row once
        w = weight[row]
        norm = ops.ew("pow", ops.total(ops.ew("pow", ops.ew("abs", w), torch.tensor(3.0)), 0), torch.tensor(1 / 3))
        ops.flops += 1  # compare with max_norm
        factor = ops.ew("div", torch.tensor(1.0), ops.ew("add", norm, torch.tensor(1e-7)))
        if norm > 1.0:
            weight[row] = ops.ew("mul", w, factor)
        else:
            ops.flops += w.numel()  # counted for every row: the rule's upper bound
    cost, out = cost_of(layer, indices)
    torch.testing.assert_close(layer.weight.detach(), weight)
    torch.testing.assert_close(out, weight[indices])
    assert cost.total_flops == ops.flops and cost.macs == 0


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 3])
def test_embedding_bag_against_a_loop_over_bags(ops, mode, padding_idx):
    layer = nn.EmbeddingBag(10, 4, mode=mode, padding_idx=padding_idx)
    indices, offsets = torch.tensor([1, 3, 2, 5, 3, 6, 7]), torch.tensor([0, 3, 3, 5])
    cost, out = cost_of(layer, indices, offsets)
    weight = layer.weight.detach()
    ends = [*offsets.tolist()[1:], indices.numel()]
    for bag, (start, end) in enumerate(zip(offsets.tolist(), ends)):
        rows = [weight[i] for i in indices[start:end].tolist() if i != padding_idx]
        if not rows:
            torch.testing.assert_close(out[bag], torch.zeros(4))
            continue
        value = rows[0]
        for row in rows[1:]:
            value = ops.ew("max" if mode == "max" else "add", value, row)
        if mode == "mean":
            value = ops.ew("div", value, torch.tensor(float(len(rows))))
        torch.testing.assert_close(out[bag], value)
    assert cost.total_flops == ops.flops and cost.macs == 0


def test_weighted_embedding_bag_is_a_weighted_sum(ops):
    layer = nn.EmbeddingBag(10, 4, mode="sum")
    indices, weights = torch.tensor([[1, 2, 3], [4, 4, 0]]), torch.rand(2, 3)
    cost, out = cost_of(layer, indices, None, weights)
    reference = ops.mac(weights[..., None], layer.weight.detach()[indices], dim=1)
    torch.testing.assert_close(out, reference)
    assert (cost.macs, cost.total_flops) == (ops.macs, ops.flops)


def taps_per_output(layer, shape):
    """Nonzero entries of each Jacobian row: the inputs an output element really weighs."""
    jacobian = torch.autograd.functional.jacobian(layer, torch.randn(shape))
    out_elements = jacobian.shape[: len(jacobian.shape) // 2].numel()
    return (jacobian.reshape(out_elements, -1) != 0).sum(1)


@pytest.mark.parametrize("layer,shape,taps", [
    (nn.Upsample(scale_factor=2.5, mode="linear"), (1, 2, 7), 2),
    (nn.Upsample(size=(9, 11), mode="bilinear"), (1, 1, 5, 4), 4),
    (nn.UpsamplingBilinear2d(scale_factor=3), (1, 2, 3, 4), 4),
    (nn.Upsample(size=(13, 9), mode="bicubic"), (1, 1, 6, 5), 16),
    (nn.Upsample(size=(5, 7, 6), mode="trilinear"), (1, 1, 3, 4, 3), 8),
])
def test_interpolating_upsample_weighs_as_many_taps_as_counted(layer, shape, taps):
    cost, out = cost_of(layer, torch.randn(shape))
    counted = taps_per_output(layer, shape)
    assert counted.max() == taps  # interior outputs weigh every tap; edge ones (clamped) fewer
    assert cost.macs == out.numel() * taps and cost.total_flops == out.numel() * (2 * taps - 1)


@pytest.mark.parametrize("layer", [nn.Upsample(scale_factor=2), nn.UpsamplingNearest2d(size=(7, 5))])
def test_nearest_upsample_copies(layer):
    shape = (1, 2, 3, 4)
    assert (taps_per_output(layer, shape) == 1).all()
    profile = profile_model(layer, torch.randn(shape))
    assert profile.complete and profile.flops == 0 and profile.activations == layer(torch.randn(shape)).numel()


def test_area_upsample_counts_its_adaptive_average_windows():
    layer, x = nn.Upsample(size=(5, 7), mode="area"), torch.randn(2, 3, 4, 4)
    pool = nn.AdaptiveAvgPool2d((5, 7))
    assert cost_of(layer, x)[0].total_flops == cost_of(pool, x)[0].total_flops


def test_fold_against_an_overlap_adding_loop():
    layer = nn.Fold(output_size=(5, 6), kernel_size=(2, 3), padding=1, stride=(2, 1))
    x = torch.randn(2, 4 * 6, 3 * 6)  # 3 × 6 patch positions on the padded 7 × 8 plane
    cost, out = cost_of(layer, x)
    reference, adds = torch.zeros(2, 4, 7, 8), 0  # the padded plane
    written = torch.zeros(7, 8, dtype=torch.bool)
    patches = x.reshape(2, 4, 2, 3, 3, 6)  # (batch, channel, kernel rows, kernel cols, patch rows, patch cols)
    for pr in range(3):
        for pc in range(6):
            for kr in range(2):
                for kc in range(3):
                    r, c = pr * 2 + kr, pc + kc
                    if 1 <= r < 6 and 1 <= c < 7:  # inside the output, not the padding
                        adds += 2 * 4 if written[r, c] else 0
                        written[r, c] = True
                    reference[:, :, r, c] += patches[:, :, kr, kc, pr, pc]
    torch.testing.assert_close(reference[:, :, 1:6, 1:7], out)
    assert cost.total_flops == adds and cost.macs == 0


@pytest.mark.parametrize("layer,make_input", [
    (nn.Unfold((2, 3), stride=2), lambda: (torch.randn(2, 3, 6, 7),)),
    (nn.MaxUnpool1d(2), lambda: nn.MaxPool1d(2, return_indices=True)(torch.randn(2, 3, 8))),
])
def test_copies_cost_nothing_but_their_output(layer, make_input):
    inputs = make_input()
    profile = profile_model(layer, inputs)
    assert profile.complete and profile.flops == 0
    assert profile.activations == layer(*inputs).numel() / 2  # per sample

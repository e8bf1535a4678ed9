"""Rules of standard layers against brute-force counts, torch's FlopCounterMode, moduleprofiler and ptflops."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from leanspeech.profile.rules import extra_rule_for, is_free, rule_for

moduleprofiler_ops = pytest.importorskip("moduleprofiler.ops").get_default_ops_map()


def run(module: nn.Module, *inputs: torch.Tensor):
    """(cost by our rule, output, torch's FlopCounterMode count of the same call / 2 = its MACs)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = module(*inputs)
    return rule_for(module)(module, inputs, out), out, counter.get_total_flops() / 2


def bias_adds(module: nn.Module, out: torch.Tensor) -> int:
    return out.numel() if getattr(module, "bias", None) is not None else 0


@pytest.mark.parametrize("shape", [(7,), (3, 7), (2, 5, 7)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(shape, bias):
    layer = nn.Linear(7, 4, bias=bias)
    x = torch.randn(shape)
    cost, out, torch_macs = run(layer, x)
    assert cost.macs == torch_macs + bias_adds(layer, out)
    assert cost.total_flops == moduleprofiler_ops[nn.Linear](layer, (x,), out)


CONV_CASES = [
    dict(kernel_size=3),
    dict(kernel_size=5, stride=2, padding=2),
    dict(kernel_size=3, dilation=2, padding=1, groups=2),
    dict(kernel_size=4, stride=3, groups=4, bias=False),
    dict(kernel_size=1, bias=False),
]


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("dims", [1, 2])
def test_conv(case, dims):
    conv = (nn.Conv1d if dims == 1 else nn.Conv2d)(4, 8, **case)
    x = torch.randn(2, 4, *(13,) * dims)
    cost, out, torch_macs = run(conv, x)
    assert cost.macs == torch_macs + bias_adds(conv, out)
    assert cost.total_flops == moduleprofiler_ops[type(conv)](conv, (x,), out)


def transposed_conv1d_by_scatter(x, weight, bias, stride, padding, dilation, groups, output_padding):
    """Every input sample times every kernel tap, added at i·stride − padding + j·dilation: counts MACs."""
    batch, cin, length = x.shape
    cout_g, k = weight.shape[1], weight.shape[2]
    cin_g = cin // groups
    full = (length - 1) * stride + dilation * (k - 1) + 1 + output_padding
    y = torch.zeros(batch, cout_g * groups, full)
    macs = 0
    for ci in range(cin):
        g = ci // cin_g
        for i in range(length):
            for j in range(k):
                y[:, g * cout_g:(g + 1) * cout_g, i * stride + j * dilation] += x[:, ci, i, None] * weight[ci, :, j]
                macs += batch * cout_g
    y = y[:, :, padding: full - padding]
    if bias is not None:
        y += bias[:, None]
        macs += y.numel()
    return y, macs


@pytest.mark.parametrize("case", [
    dict(kernel_size=3), dict(kernel_size=4, stride=2, padding=1), dict(kernel_size=3, stride=2, dilation=2, groups=2),
    dict(kernel_size=5, stride=3, padding=2, output_padding=1, bias=False),
])
def test_transposed_conv1d_against_scatter_loop(case):
    conv = nn.ConvTranspose1d(4, 6, **case)
    x = torch.randn(2, 4, 9)
    cost, out, torch_macs = run(conv, x)
    expected, macs = transposed_conv1d_by_scatter(
        x, conv.weight.detach(), None if conv.bias is None else conv.bias.detach(), conv.stride[0], conv.padding[0],
        conv.dilation[0], conv.groups, conv.output_padding[0],
    )
    torch.testing.assert_close(expected, out, atol=1e-5, rtol=1e-5)
    assert cost.macs == macs == torch_macs + bias_adds(conv, out)


def test_transposed_conv2d_matches_torch_counter():
    conv = nn.ConvTranspose2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 0), groups=1)
    cost, out, torch_macs = run(conv, torch.randn(2, 3, 6, 5))
    assert cost.macs == torch_macs + bias_adds(conv, out)


def normalize_by_hand(ops, x, groups_dim, weight, bias):
    """Statistics per group: mean (n − 1 adds, 1 divide), x − μ (n), square (n), sum (n − 1), divide, + eps,
    sqrt, then (x − μ) / σ (n): 5n + 4 per group with the sum-then-divide of moduleprofiler; affine 2 per element."""
    mean = ops.ew("div", ops.total(x, groups_dim).unsqueeze(groups_dim), torch.tensor(float(x.shape[groups_dim])))
    centered = ops.ew("sub", x, mean)
    var = ops.ew("div", ops.total(ops.ew("mul", centered, centered), groups_dim).unsqueeze(groups_dim),
                 torch.tensor(float(x.shape[groups_dim])))
    std = ops.ew("sqrt", ops.ew("add", var, torch.tensor(1e-5)))
    y = ops.ew("div", centered, std)
    ops.flops += 2 * (mean.numel())  # the two sums above counted n − 1 adds; moduleprofiler counts n (+1 each)
    if weight is not None:
        y = ops.ew("mul", y, weight)
    if bias is not None:
        y = ops.ew("add", y, bias)
    return y


@pytest.mark.parametrize("affine", [True, False])
def test_groupnorm_against_hand_normalization(ops, affine):
    norm = nn.GroupNorm(3, 6, affine=affine)
    x = torch.randn(2, 6, 5)
    cost, out, _ = run(norm, x)
    groups = x.reshape(2, 3, 10)
    w = norm.weight.detach().repeat_interleave(5).reshape(3, 10) if affine else None
    b = norm.bias.detach().repeat_interleave(5).reshape(3, 10) if affine else None
    expected = normalize_by_hand(ops, groups, -1, w, b).reshape_as(x)
    torch.testing.assert_close(expected, out, atol=1e-5, rtol=1e-4)
    assert cost.total_flops == ops.flops
    assert cost.macs == x.numel() and cost.activations == 0


@pytest.mark.parametrize("layer,shape", [
    (nn.BatchNorm1d(6), (4, 6, 9)), (nn.BatchNorm1d(6, affine=False), (4, 6)), (nn.BatchNorm2d(3), (2, 3, 5, 4)),
    (nn.LayerNorm(8), (3, 5, 8)), (nn.LayerNorm((5, 8), elementwise_affine=False), (3, 5, 8)),
    (nn.LayerNorm(8, bias=False), (2, 8)),
])
def test_norms_match_moduleprofiler(layer, shape):
    x = torch.randn(shape)
    cost, out, _ = run(layer.eval(), x)
    assert cost.total_flops == moduleprofiler_ops[type(layer)](layer, (x,), out)


@pytest.mark.parametrize("layer,shape", [
    (nn.AvgPool1d(3, stride=2), (2, 3, 11)), (nn.AvgPool2d((2, 3), padding=1), (2, 3, 7, 8)),
    (nn.AdaptiveAvgPool1d(4), (2, 3, 10)), (nn.AdaptiveAvgPool2d((3, 1)), (1, 2, 7, 5)),
    (nn.AdaptiveAvgPool2d(1), (2, 4, 6, 6)),
])
def test_average_pools_against_window_loop(layer, shape):
    """Loop over every output, find the window torch averages, count its elements (k − 1 adds + divide)."""
    x = torch.randn(shape)
    cost, out, _ = run(layer, x)
    dims = out.dim() - 2
    flops = 0
    reference = torch.empty_like(out)
    for index in torch.cartesian_prod(*(torch.arange(n) for n in out.shape[2:])).reshape(-1, dims).tolist():
        slices = []
        for d, o in enumerate(index):
            n_in, n_out = x.shape[2 + d], out.shape[2 + d]
            if isinstance(layer, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)):
                start, end = o * n_in // n_out, -(-(o + 1) * n_in // n_out)
            else:
                k = layer.kernel_size if isinstance(layer.kernel_size, int) else layer.kernel_size[d]
                s = layer.stride if isinstance(layer.stride, int) else layer.stride[d]
                p = layer.padding if isinstance(layer.padding, int) else layer.padding[d]
                start, end = o * s - p, o * s - p + k
            slices.append((start, end))
        window = math.prod(e - s for s, e in slices)
        clipped = x[(..., *(slice(max(s, 0), e) for s, e in slices))]
        reference[(..., *index)] = clipped.sum(dim=tuple(range(2, 2 + dims))) / window
        flops += window * out.shape[0] * out.shape[1]
    torch.testing.assert_close(reference, out, atol=1e-6, rtol=1e-5)
    assert cost.total_flops == flops


@pytest.mark.parametrize("layer,shape", [(nn.MaxPool1d(3), (2, 3, 12)), (nn.MaxPool2d(2), (2, 3, 8, 6))])
def test_max_pool_matches_moduleprofiler(layer, shape):
    x = torch.randn(shape)
    cost, out, _ = run(layer, x)
    assert cost.total_flops == moduleprofiler_ops[type(layer)](layer, (x,), out) == out.numel()


@pytest.mark.parametrize("layer", [
    nn.ReLU(), nn.LeakyReLU(), nn.PReLU(), nn.ELU(), nn.SELU(), nn.Sigmoid(), nn.Tanh(), nn.Softplus(),
    nn.Softmax(dim=-1), nn.Softmax(dim=1),
])
def test_activations_match_moduleprofiler(layer):
    x = torch.randn(2, 5, 7)
    cost, out, _ = run(layer, x)
    assert cost.total_flops == moduleprofiler_ops[type(layer)](layer, (x,), out)
    assert cost.macs == 0 and cost.activations == 0


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("kv", [(16, 16), (12, 10)])
@pytest.mark.parametrize("bias", [True, False])
def test_multihead_attention_products_match_torch(batch_first, kv, bias):
    kdim, vdim = kv
    mha = nn.MultiheadAttention(16, 4, bias=bias, kdim=kdim, vdim=vdim, batch_first=batch_first).eval()
    q = torch.randn(2, 5, 16) if batch_first else torch.randn(5, 2, 16)
    k = torch.randn(2, 7, kdim) if batch_first else torch.randn(7, 2, kdim)
    v = torch.randn(2, 7, vdim) if batch_first else torch.randn(7, 2, vdim)
    cost, out, torch_macs = run(mha, q, k, v)
    bias_adds = 2 * (2 * 5 * 16) + 2 * (2 * 7 * 16)  # q and output projections on 2·5 rows, k and v on 2·7
    biases = bias_adds if bias else 0
    assert cost.macs == torch_macs + biases
    softmax = 2 * 4 * 5 * (4 * 7 - 1)
    scale = 2 * 5 * 16
    assert cost.total_flops == 2 * torch_macs - (0 if bias else bias_adds) + softmax + scale


def test_ptflops_agrees_on_linear_and_conv_macs():
    ptflops = pytest.importorskip("ptflops")
    from leanspeech.profile.model_profile import profile_model

    model = nn.Sequential(nn.Conv1d(3, 8, 5, stride=2), nn.Conv1d(8, 8, 3, groups=4, bias=False), nn.Flatten(),
                          nn.Linear(8 * 6, 10), nn.Linear(10, 2, bias=False))
    macs, _ = ptflops.get_model_complexity_info(model, (3, 19), as_strings=False, print_per_layer_stat=False,
                                                backend="pytorch")
    assert profile_model(model, torch.randn(1, 3, 19)).macs == macs


@pytest.mark.parametrize("affine", [True, False])
def test_rmsnorm_against_hand_normalization(ops, affine):
    """x / √(mean x² + eps) · w, the sum counted n (+1) as moduleprofiler counts the sums of LayerNorm."""
    norm = nn.RMSNorm(6, eps=1e-6, elementwise_affine=affine)
    x = torch.randn(3, 4, 6)
    cost, out, _ = run(norm, x)
    mean_square = ops.ew("div", ops.total(ops.ew("mul", x, x), -1).unsqueeze(-1), torch.tensor(6.0))
    ops.flops += mean_square.numel()
    y = ops.ew("div", x, ops.ew("sqrt", ops.ew("add", mean_square, torch.tensor(1e-6))))
    if affine:
        y = ops.ew("mul", y, norm.weight.detach())
    torch.testing.assert_close(y, out, atol=1e-5, rtol=1e-5)
    assert cost.total_flops == ops.flops
    assert cost.macs == x.numel() and cost.activations == 0


def test_local_response_norm_against_channel_window_loop(ops):
    norm = nn.LocalResponseNorm(4, alpha=2e-3, beta=0.6, k=1.5)
    x = torch.randn(2, 6, 5)
    cost, out, _ = run(norm, x)
    squares = F.pad(ops.ew("mul", x, x), (0, 0, 4 // 2, (4 - 1) // 2))  # zero channels, as torch pads
    means = torch.stack([
        ops.ew("div", ops.total(squares[:, c:c + 4], 1), torch.tensor(4.0)) for c in range(x.shape[1])
    ], 1)
    scale = ops.ew("pow", ops.ew("add", ops.ew("mul", means, torch.tensor(2e-3)), torch.tensor(1.5)), torch.tensor(0.6))
    torch.testing.assert_close(ops.ew("div", x, scale), out, atol=1e-6, rtol=1e-5)
    assert cost.total_flops == ops.flops and cost.macs == x.numel()


@pytest.mark.parametrize("layer,shape", [(nn.LPPool1d(2, 3), (2, 3, 9)), (nn.LPPool2d(3, (2, 2)), (1, 2, 6, 4))])
def test_lp_pool_against_window_loop(ops, layer, shape):
    x = torch.randn(shape).abs()  # a negative sum under an odd root is torch's own sign trick, not arithmetic
    cost, out, _ = run(layer, x)
    p = torch.tensor(float(layer.norm_type))
    windows = x.unfold(2, *(2 * [layer.kernel_size if isinstance(layer.kernel_size, int) else layer.kernel_size[0]]))
    if x.dim() == 4:
        windows = windows.unfold(3, layer.kernel_size[1], layer.kernel_size[1]).flatten(-2)
    sums = ops.total(ops.ew("pow", windows, p), -1)
    reference = ops.ew("pow", sums, 1 / p)  # n powers, n − 1 adds and the root: 2n per output
    torch.testing.assert_close(reference, out, atol=1e-5, rtol=1e-4)
    assert cost.total_flops == ops.flops


@pytest.mark.parametrize("bias", [True, False])
def test_bilinear_against_counted_contractions(ops, bias):
    layer = nn.Bilinear(3, 4, 5, bias=bias)
    x1, x2 = torch.randn(2, 7, 3), torch.randn(2, 7, 4)
    cost, out, _ = run(layer, x1, x2)
    w = layer.weight.detach()  # (out, in1, in2)
    left = ops.mac(x1[..., None, :, None], w, dim=-2)  # (2, 7, out, in2): x1ᵀ·A_k
    y = ops.mac(left, x2[..., None, :], dim=-1)
    if bias:
        y = ops.ew("add", y, layer.bias.detach())
        ops.macs += y.numel()
    torch.testing.assert_close(y, out, atol=1e-5, rtol=1e-5)
    assert (cost.macs, cost.total_flops) == (ops.macs, ops.flops)


def test_cosine_similarity_against_counted_reference(ops):
    layer = nn.CosineSimilarity(dim=1)
    x1, x2 = torch.randn(4, 8, 3), torch.randn(1, 8, 3)
    cost, out, _ = run(layer, x1, x2)
    norms = ops.ew("mul", ops.ew("sqrt", ops.mac(x1, x1, 1)), ops.ew("sqrt", ops.mac(x2, x2, 1)))
    y = ops.ew("div", ops.mac(x1, x2, 1), ops.ew("max", norms, torch.tensor(layer.eps)))
    torch.testing.assert_close(y, out, atol=1e-5, rtol=1e-5)
    assert (cost.macs, cost.total_flops) == (ops.macs, ops.flops)


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0])
def test_pairwise_distance_against_counted_reference(ops, p):
    layer = nn.PairwiseDistance(p=p)
    x1, x2 = torch.randn(5, 6), torch.randn(5, 6)
    cost, out, _ = run(layer, x1, x2)
    d = ops.ew("add", ops.ew("sub", x1, x2), torch.tensor(layer.eps))
    if p == 2:
        y = ops.ew("sqrt", ops.mac(d, d, -1))
    else:
        y = ops.ew("pow", ops.total(ops.ew("pow", ops.ew("abs", d), torch.tensor(p)), -1), torch.tensor(1 / p))
    torch.testing.assert_close(y, out, atol=1e-5, rtol=1e-5)
    assert (cost.macs, cost.total_flops) == (ops.macs, ops.flops)


# torch.nn classes that are not layers a model computes with: containers (their children count; the transformer
# layers' own arithmetic is an extra rule), abstract bases, lazy layers (they become the plain class at their first forward), losses, and two legacy ones.
NOT_COUNTED_LAYERS = {
    "Module", "Container", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict", "DataParallel",
    "RNNBase", "RNNCellBase", "Transformer", "TransformerEncoder", "TransformerDecoder",
    "CrossMapLRN2d", "AdaptiveLogSoftmaxWithLoss",
}


def test_every_torch_layer_has_a_rule_or_is_free():
    missing = []
    for name, cls in vars(nn).items():
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)) or name in NOT_COUNTED_LAYERS:
            continue
        if "Loss" in name or name.startswith("Lazy"):
            continue
        module = cls.__new__(cls)  # the rule table is read from the class; no constructor arguments needed
        if rule_for(module) is None and extra_rule_for(module) is None and not is_free(module):
            missing.append(name)
    assert not missing, f"torch.nn layers without a counting rule: {missing}"

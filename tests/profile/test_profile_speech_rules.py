"""Front-end and pooling rules against brute-force references that reproduce the modules' outputs."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from leanspeech.audio import transforms
from leanspeech.nn.pooling import AttentionPooling, AttentiveStatisticsPooling
from leanspeech.profile import costs
from leanspeech.profile.model_profile import profile_model
from leanspeech.profile.rules import rule_for
from leanspeech.profile.costs import fft_convention


def fft_by_butterflies(x: torch.Tensor, counts: dict[str, int]) -> torch.Tensor:
    """Recursive radix-2 Cooley-Tukey on complex x; counts complex multiplies (6 FLOPs) and adds (2 FLOPs)."""
    n = x.shape[-1]
    if n == 1:
        return x
    even, odd = fft_by_butterflies(x[..., ::2], counts), fft_by_butterflies(x[..., 1::2], counts)
    twiddled = torch.exp(-2j * math.pi * torch.arange(n // 2, dtype=torch.float64) / n) * odd
    counts["flops"] += (n // 2) * 6 + n * 2  # n/2 complex multiplies, n complex adds
    return torch.cat([even + twiddled, even - twiddled], dim=-1)


@pytest.mark.parametrize("n", [8, 64, 512])
def test_fft_flops_match_counted_butterflies(n):
    counts = {"flops": 0}
    x = torch.randn(n, dtype=torch.complex128)
    torch.testing.assert_close(fft_by_butterflies(x, counts), torch.fft.fft(x))
    assert costs.fft_flops(n) == counts["flops"]


@pytest.mark.parametrize("n_fft,hop,win,center", [(64, 16, 64, True), (32, 8, 24, False)])
def test_stft_dft_convention_against_explicit_dft(n_fft, hop, win, center):
    """Frames times a dense (n_fft × 2F) cos/sin basis reproduce torch.stft; FlopCounterMode counts the product."""
    stft = transforms.STFT(n_fft, hop, win, center=center)
    wav = torch.randn(2, 300)
    with fft_convention("dft"):
        out = stft(wav)
        cost = rule_for(stft)(stft, (wav,), out)
    padded = nn.functional.pad(wav[:, None], (n_fft // 2, n_fft // 2), mode="reflect")[:, 0] if center else wav
    window = nn.functional.pad(stft.window, ((n_fft - win) // 2, n_fft - win - (n_fft - win) // 2))
    frames = padded.unfold(-1, n_fft, hop) * window
    k = torch.arange(n_fft // 2 + 1)
    angle = 2 * math.pi * torch.outer(torch.arange(n_fft), k) / n_fft
    basis = torch.cat([torch.cos(angle), -torch.sin(angle)], dim=1)
    with FlopCounterMode(display=False) as counter:
        parts = frames @ basis
    spectrum = torch.complex(parts[..., : len(k)], parts[..., len(k):]).transpose(1, 2)
    torch.testing.assert_close(spectrum, out, atol=1e-4, rtol=1e-4)
    assert cost.macs == counter.get_total_flops() / 2


def test_stft_fft_convention_is_half_a_complex_fft_plus_window():
    stft = transforms.STFT(256, 64, 200)
    wav = torch.randn(3, 1000)
    out = stft(wav)
    cost = rule_for(stft)(stft, (wav,), out)
    frames = 3 * out.shape[-1]
    assert cost.total_flops == frames * (5 * 256 * 8 / 2 + 200)
    assert cost.activations == 2 * out.numel()


def test_power_spectrogram_and_filterbank():
    spec = transforms.PowerSpectrogram(64, 16, power=2.0)
    wav = torch.randn(2, 400)
    out = spec(wav)
    base = costs.fft_flops(64) / 2 + 64
    assert rule_for(spec)(spec, (wav,), out).total_flops == out.numel() // 33 * base + 3 * out.numel()
    bank = transforms.FilterBank.mel(10, 64, 16000)
    with FlopCounterMode(display=False) as counter:
        mel = bank(out)
    cost = rule_for(bank)(bank, (out,), mel)
    assert cost.macs == counter.get_total_flops() / 2
    assert f"of {10 * 33} weights nonzero" in cost.note


def attention_pool_by_hand(ops, module: AttentionPooling, x):
    first, act, second = module.score
    hidden = ops.ew("relu", ops.matvec(first.weight, x, first.bias))
    scores = ops.matvec(second.weight, hidden, second.bias)
    weights = ops.softmax(scores, dim=1)
    return ops.mac(weights, x, dim=1)


def asp_by_hand(ops, module: AttentiveStatisticsPooling, x):
    frames = x.shape[-1]
    context = x
    if module.global_context:
        mean = ops.ew("div", ops.total(x, -1), torch.tensor(float(frames))).unsqueeze(-1)
        centered = ops.ew("sub", x, mean)
        var = ops.ew("div", ops.total(ops.ew("mul", centered, centered), -1), torch.tensor(float(frames)))
        std = ops.ew("sqrt", var.clamp_min(1e-12)).unsqueeze(-1)
        context = torch.cat([x, mean.expand_as(x), std.expand_as(x)], dim=1)
    conv1, relu, bn, tanh, conv2 = module.attention
    h = ops.ew("relu", ops.matvec(conv1.weight[..., 0], context.transpose(1, 2), conv1.bias))
    h = (h - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    ops.macs += h.numel()
    ops.flops += bn.num_features * (7 * h.numel() // bn.num_features + 4)  # moduleprofiler's BatchNorm
    h = ops.ew("tanh", h)
    scores = ops.matvec(conv2.weight[..., 0], h, conv2.bias).transpose(1, 2)
    weights = ops.softmax(scores, dim=-1)
    mean = ops.mac(weights, x, -1)
    centered = ops.ew("sub", x, mean.unsqueeze(-1))
    variance = ops.mac(weights, ops.ew("mul", centered, centered), -1)
    std = ops.ew("sqrt", variance.clamp_min(1e-12))
    return torch.cat([mean, std], dim=1)


def test_attention_pooling_against_instrumented_reference(ops):
    torch.manual_seed(0)
    pool = AttentionPooling(6, 10).eval()
    x = torch.randn(3, 9, 6)
    with torch.no_grad():
        expected = attention_pool_by_hand(ops, pool, x)
        torch.testing.assert_close(expected, pool(x), atol=1e-5, rtol=1e-5)
    profile = profile_model(pool, x)
    assert profile.complete
    assert profile.macs * 3 == ops.macs and profile.flops * 3 == ops.flops


@pytest.mark.parametrize("global_context", [True, False])
def test_attentive_statistics_pooling_against_instrumented_reference(ops, global_context):
    torch.manual_seed(1)
    pool = AttentiveStatisticsPooling(4, attention_channels=5, global_context=global_context).eval()
    x = torch.randn(2, 4, 11)
    with torch.no_grad():
        expected = asp_by_hand(ops, pool, x)
        torch.testing.assert_close(expected, pool(x), atol=1e-5, rtol=1e-4)
    profile = profile_model(pool, x)
    assert profile.complete
    assert profile.macs * 2 == ops.macs
    assert profile.flops * 2 == ops.flops

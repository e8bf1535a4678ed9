"""The hook walker, the figures around it (parameters, memory, rates), latency mechanics and errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import prune
from torch.utils.flop_counter import FlopCounterMode

from leanspeech.errors import LeanspeechError
from leanspeech.models.base import SpeechModel
from leanspeech.nn.attention import unfused_attention
from leanspeech.profile import costs, latency, params
from leanspeech.profile.model_profile import profile_model
from leanspeech.profile.rules import LayerCost, register_rule


class Scale(nn.Module):
    """A layer with no rule: it must show up as unknown, never be counted as free."""

    def __init__(self, n: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))

    def forward(self, x):
        return x * self.weight


def test_unknown_layer_is_listed_with_its_parameters_and_total_marked_incomplete():
    model = nn.Sequential(nn.Linear(4, 3), Scale(3), nn.Dropout(0.1), nn.Identity())
    profile = profile_model(model, torch.randn(2, 4))
    assert not profile.complete and profile.unknown == ["1"]
    unknown = next(r for r in profile.layers if r.name == "1")
    assert (unknown.status, unknown.params) == ("unknown", 3)
    assert [r.status for r in profile.layers if r.kind in ("Dropout", "Identity")] == ["free", "free"]
    assert profile.macs == 4 * 3 + 3


def test_a_module_that_never_runs_is_unused_not_unknown():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.spare = nn.Linear(2, 2), Scale(2)

        def forward(self, x):
            return self.used(x)

    profile = profile_model(Model(), torch.randn(1, 2))
    assert profile.complete and next(r for r in profile.layers if r.name == "spare").status == "unused"


def test_profile_cost_method_and_extra_cost_declare_functional_work():
    class Gain(nn.Module):
        def forward(self, x):
            return 2 * x

        def profile_cost(self, inputs, output):
            return LayerCost(macs=0, flops=output.numel(), activations=0)

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(5, 5)
            self.gain = Gain()

        def forward(self, x):
            return x + self.gain(self.body(x))

        def extra_cost(self, inputs, output):
            return costs.elementwise_cost("add", output.numel())

    profile = profile_model(Residual(), torch.randn(3, 5))
    assert profile.complete
    assert profile.flops * 3 == costs.linear_cost(3, 5, 5, True).total_flops + 15 + 15
    assert {r.name: r.status for r in profile.layers}["Residual"] == "container+extra"


def test_rule_of_a_registered_layer_is_used_and_its_children_are_not_visited():
    class Binary(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(6, 4)

        def forward(self, x):
            return self.inner((x > 0).float())

    @register_rule(Binary)
    def count_binary(module, inputs, output):
        cost = costs.linear_cost(inputs[0].numel() // 6, 6, 4, True)
        return LayerCost(macs=cost.macs - output.numel() * 6, binary_macs=output.numel() * 6,
                         flops=cost.flops, activation_bits=1)

    profile = profile_model(Binary(), torch.randn(2, 6), bits=32)
    assert [r.name for r in profile.layers] == ["Binary"]
    assert (profile.binary_macs, profile.macs) == (24, 4)
    assert profile.activation_bytes == 4 * 1 / 8  # the layer's own bit width wins over --bits


def test_parameters_dense_nonzero_and_sparse_storage():
    layer = nn.Linear(10, 10, bias=True)
    prune.l1_unstructured(layer, "weight", amount=0.8)  # keeps 20 of 100 weights, as weight_orig + weight_mask
    count = params.count_parameters(layer)
    assert (count.dense, count.nonzero) == (110, 20 + 10)
    assert count.sparse == 1.5 * 20 + 10  # the pruned tensor stored sparse, the bias dense
    dense_tensor = nn.Linear(4, 4, bias=False)
    with torch.no_grad():
        dense_tensor.weight[0, 0] = 0.0  # one zero: sparse storage would cost more, so it stays dense
    assert params.count_parameters(dense_tensor).sparse == 16


def test_file_size_is_the_serialised_state_dict():
    layer = nn.Linear(100, 100)
    assert 100 * 101 * 4 < params.file_size(layer) < 100 * 101 * 4 + 4096


class FrameModel(SpeechModel):
    """A frame model: 10 ms frames as a (B, T/hop, hop) reshape, GRU, projection."""

    hop_length = 160

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(160, 8, batch_first=True)
        self.out = nn.Linear(8, 1)

    def features(self, wav):
        return wav[:, : wav.shape[-1] // 160 * 160].reshape(wav.shape[0], -1, 160)

    def forward(self, x):
        return self.out(self.rnn(x)[0])


def test_frame_model_rate_is_ops_per_frame_times_frames_per_second():
    profile = profile_model(FrameModel(), seconds=1.0, batch=2)
    per_frame = costs.gru_cost(1, 1, 160, 8).macs + costs.linear_cost(1, 8, 1, True).macs
    assert profile.frame_model and profile.per_second["macs"] == pytest.approx(per_frame * 100)
    assert profile.macs == pytest.approx(per_frame * 100)  # 1 s = 100 frames per sample
    assert profile.input_elements == 16000


class ClipModel(SpeechModel):
    def __init__(self):
        super().__init__()
        self.frontend = nn.Conv1d(1, 4, 400, stride=160)
        self.pool = nn.AdaptiveAvgPool1d(1)

    def features(self, wav):
        return self.frontend(wav[:, None])

    def forward(self, x):
        return self.pool(x)[..., 0]


def test_clip_model_rate_is_cost_per_input_second():
    profile = profile_model(ClipModel(), seconds=2.0)
    assert not profile.frame_model
    assert profile.per_second["flops"] == pytest.approx(profile.flops / 2.0)


def test_memory_figures_follow_bit_widths():
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))
    profile = profile_model(model, torch.randn(1, 10), bits=8, input_bits=16, weight_bits=4)
    assert profile.activations == 25  # ReLU works in place
    assert profile.activation_bytes == 25
    assert profile.memory_bytes == 25 + 10 * 2 + (220 + 105) * 4 / 8


def test_total_macs_agree_with_torch_flop_counter_on_a_transformer():
    layer = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, 32, batch_first=True), num_layers=2,
                                  enable_nested_tensor=False)
    x = torch.randn(2, 7, 16)
    profile = profile_model(layer, x)
    assert profile.complete
    torch.backends.mha.set_fastpath_enabled(False)  # the fused path hides its matmuls from the counter
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            layer.eval()(x)
    finally:
        torch.backends.mha.set_fastpath_enabled(True)
    biases = sum(p.numel() for n, p in layer.named_parameters() if "bias" in n and "norm" not in n)
    rows = 7  # every projection / linear runs on 7 rows per sample, each bias added once per row
    norm_elements = 2 * 2 * 7 * 16  # two LayerNorms per layer: one scale-and-shift per element
    # FlopCounterMode has no formula for CPU flash attention (the layer calls it with need_weights=False):
    # Q·Kᵀ and weights·V, 2·B·L·L·E per layer, are added by hand; the MHA test checks them on the bmm path.
    attention_products = 2 * (2 * 2 * 7 * 7 * 16)
    assert profile.macs * 2 == counter.get_total_flops() / 2 + attention_products + 2 * rows * biases + 2 * norm_elements
    extra = next(r for r in profile.layers if r.name == "layers.0")
    assert extra.flops == 2 * (2 * 7 * 16) + 2 * 7 * 32  # residual adds and the functional ReLU


def test_total_macs_agree_with_torch_flop_counter_on_a_decoder_layer():
    layer = nn.TransformerDecoderLayer(16, 4, 32, batch_first=True, activation="gelu")
    target, memory = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    profile = profile_model(layer, (target, memory))
    assert profile.complete
    with torch.no_grad(), unfused_attention(), FlopCounterMode(display=False) as counter:
        layer.eval()(target, memory)
    # Bias adds, one per row: 5 target rows, but cross-attention's keys and values project the 7 memory rows.
    biases = sum(p.numel() * 5 for n, p in layer.named_parameters() if "bias" in n and "norm" not in n)
    biases += 2 * 16 * (7 - 5)
    norm_elements = 3 * 5 * 16
    attention_products = 2 * 5 * 16 * (5 + 7)  # Q·Kᵀ and weights·V of self- and cross-attention (flash: uncounted by torch)
    per_sample = counter.get_total_flops() / 2 / 2 + attention_products + biases + norm_elements
    assert profile.macs == per_sample  # the profile reports one sample of the batch of 2
    extra = next(r for r in profile.layers if r.name == "TransformerDecoderLayer")
    assert extra.flops == 3 * (2 * 5 * 16) + 8 * 2 * 5 * 32  # residual adds and the functional GELU


def test_a_whole_transformer_counts_completely():
    model = nn.Transformer(16, 4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=32, batch_first=True)
    profile = profile_model(model, (torch.randn(2, 7, 16), torch.randn(2, 5, 16)))
    assert profile.complete and profile.macs > 0


def test_lazy_layers_take_their_shapes_before_counting():
    lazy = nn.Sequential(nn.LazyConv1d(4, 3), nn.LazyBatchNorm1d(), nn.Flatten(), nn.LazyLinear(2))
    x = torch.randn(2, 3, 10)
    counted = profile_model(lazy, x)
    plain = nn.Sequential(nn.Conv1d(3, 4, 3), nn.BatchNorm1d(4), nn.Flatten(), nn.Linear(32, 2))
    assert counted.complete and counted.params.dense == profile_model(plain, x).params.dense
    assert counted.macs == profile_model(plain, x).macs


def test_wrong_input_shape_gives_the_models_error_with_context():
    model = nn.Sequential(nn.Linear(4, 2))
    with pytest.raises(LeanspeechError, match=r"profiling Sequential on input of shape \(3, 5\).*mat1 and mat2"):
        profile_model(model, torch.randn(3, 5))


def test_plain_module_needs_an_example_input():
    with pytest.raises(LeanspeechError, match="give an example input"):
        profile_model(nn.Linear(2, 2))


def test_latency_mechanics_with_a_fake_clock():
    ticks = iter(range(100))
    calls = []
    times = latency.time_call(lambda: calls.append(1), repeats=4, warmup=2, clock=lambda: float(next(ticks)))
    assert len(calls) == 6 and times == [1.0] * 4
    timing = latency.summarize([0.3, 0.1, 0.2], batch=2, audio_seconds=4.0)
    assert (timing.median_s, timing.min_s, timing.max_s) == (0.2, 0.1, 0.3)
    assert timing.real_time_factor == pytest.approx(0.2 / 8)


def test_measure_latency_runs_every_batch_and_restores_threads():
    threads = torch.get_num_threads()
    timings = latency.measure_latency(ClipModel(), seconds=0.5, batches=(1, 3), repeats=2, warmup=1, threads=1)
    assert [t.batch for t in timings] == [1, 3] and all(t.repeats == 2 for t in timings)
    assert all(t.min_s <= t.median_s <= t.max_s for t in timings)
    assert torch.get_num_threads() == threads

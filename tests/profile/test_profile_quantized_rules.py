"""torch.ao's quantized layers: an int8 model counts the MACs and FLOPs of the float model it came from,
its packed weights count as parameters (8-bit in memory), its quantized outputs at 8 bits; the fused
int8 stem counts what its two modules would; nothing in an int8 model is silently zero."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.ao.quantization import DeQuantStub, QuantStub, convert, get_default_qconfig, prepare, quantize_dynamic

from leanspeech.compress.quantize import quantize_static
from leanspeech.profile import params
from leanspeech.profile.model_profile import profile_model
from leanspeech.profile.report import summary_lines
from leanspeech.runtime import native
from leanspeech.runtime.int8_stem import Int8Stem

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


def _weights_and_biases(model: nn.Module) -> tuple[int, int]:
    weights = sum(p.numel() for n, p in model.named_parameters() if n.split(".")[-1].startswith("weight") and p.dim() > 1)
    return weights, sum(p.numel() for p in model.parameters()) - weights


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(16, 8, 3, stride=2, groups=2)
        self.relu2 = nn.ReLU()
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(4, 32)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(32, 1, bias=False)

    def forward(self, x):
        x = self.pool(self.relu1(self.conv1(x.unsqueeze(1))))
        x = self.gap(self.up(self.relu2(self.conv2(x)))).flatten(1)
        return self.fc2(self.relu3(self.fc1(x)))


def test_a_static_int8_model_counts_what_its_float_model_counts():
    torch.manual_seed(0)
    model = ConvNet().eval()
    x = torch.randn(2, 40, 30)
    int8 = quantize_static(model, [torch.randn(4, 40, 30)], fuse_stem=False)
    fp32, q = profile_model(model, x), profile_model(int8, x)
    assert q.complete, q.unknown
    assert (q.macs, q.flops, q.activations) == (fp32.macs, fp32.flops, fp32.activations)
    assert q.params.dense == fp32.params.dense
    weights, biases = _weights_and_biases(model)
    assert (q.params.quantized, q.params.quantized_bits) == (weights, 8 * weights)
    counted = [r for r in q.layers if r.counts_cost and r.activations]
    assert {r.kind for r in counted if "int8" in r.note} >= {"ConvReLU2d", "ConvTranspose2d", "LinearReLU", "Linear"}
    # every map after the first convolution is quint8; only the float output leaves at 32 bits
    assert {r.activation_bits for r in counted if r.name != "fc2"} == {8}
    assert q.activation_bytes < fp32.activation_bytes / 3.5
    assert q.memory_bytes - q.activation_bytes == x[0].numel() * 4 + weights + 4 * biases
    assert "stored as 8-bit integers" in "\n".join(summary_lines(q))


class Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(8, 16, num_layers=2, batch_first=True, bidirectional=True)
        self.lstm = nn.LSTM(32, 12)
        self.gru_cell = nn.GRUCell(8, 6)
        self.lstm_cell = nn.LSTMCell(8, 5)
        self.rnn_cell = nn.RNNCell(8, 4, nonlinearity="relu")
        self.head = nn.Linear(12 + 6 + 5 + 4, 3)

    def forward(self, x):
        y, _ = self.gru(x)
        y, _ = self.lstm(y.transpose(0, 1))
        last = x[:, -1]
        cells = [self.gru_cell(last), self.lstm_cell(last)[0], self.rnn_cell(last)]
        return self.head(torch.cat([y[-1], *cells], dim=1))


def test_dynamic_int8_recurrent_layers_count_what_the_float_ones_count():
    torch.manual_seed(0)
    model = Recurrent().eval()
    int8 = quantize_dynamic(model, {nn.GRU, nn.LSTM, nn.GRUCell, nn.LSTMCell, nn.RNNCell, nn.Linear}, dtype=torch.qint8)
    x = torch.randn(3, 7, 8)
    fp32, q = profile_model(model, x), profile_model(int8, x)
    assert q.complete, q.unknown
    assert (q.macs, q.flops) == (fp32.macs, fp32.flops)
    assert q.params.dense == fp32.params.dense
    per_layer = {r.name: (r.macs, r.params) for r in fp32.layers if r.counts_cost}
    for record in q.layers:
        if record.counts_cost:
            assert (record.macs, record.params) == per_layer[record.name], record.name
            assert record.note == "int8 weights"
    weights, _ = _weights_and_biases(model)
    assert q.params.quantized == weights


def test_eager_quant_stubs_count_a_scale_and_a_shift_per_element():
    class Eager(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant, self.fc, self.dequant = QuantStub(), nn.Linear(10, 4), DeQuantStub()

        def forward(self, x):
            return self.dequant(self.fc(self.quant(x)))

    model = Eager().eval()
    model.qconfig = get_default_qconfig("x86")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare(model)
        prepared(torch.randn(8, 10))
        int8 = convert(prepared)
    profile = profile_model(int8, torch.randn(3, 10))
    assert profile.complete, profile.unknown
    flops = {r.kind: r.flops for r in profile.layers if r.counts_cost}
    assert flops["Quantize"] == 2 * 3 * 10 and flops["DeQuantize"] == 2 * 3 * 4
    assert profile.macs == 10 * 4 + 4  # per sample


@pytest.mark.skipif(native.stem is None, reason="the int8 stem kernel is not built")
def test_the_fused_int8_stem_counts_its_convolution_relu_and_pooling():
    torch.manual_seed(0)
    stem_pair = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)).eval()
    int8 = quantize_static(stem_pair, [torch.randn(2, 1, 20, 13)], fuse_stem=False)
    conv, pool = int8.get_submodule("0"), int8.get_submodule("2")
    x = torch.quantize_per_tensor(torch.randn(2, 1, 20, 13), 0.05, 64, torch.quint8)
    pair = profile_model(nn.Sequential(conv, pool), x)
    fused = profile_model(Int8Stem(conv, pool), x)
    assert fused.complete
    assert (fused.macs, fused.flops, fused.activations) == (pair.macs, pair.flops, pair.activations)
    assert fused.layers[0].activation_bits == 8


def test_a_container_that_computes_with_its_childs_weights_is_unknown():
    class Borrowing(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(4, 2)

        def forward(self, x):
            return F.linear(x, self.inner.weight, self.inner.bias)

    model = nn.Sequential(nn.Linear(3, 4), Borrowing())
    profile = profile_model(model, torch.randn(2, 3))
    assert not profile.complete and profile.unknown == ["1"]
    assert profile.macs == 3 * 4 + 4  # per sample


def test_packed_weights_are_the_quantized_tensors_a_module_holds():
    int8 = quantize_dynamic(nn.Sequential(nn.Linear(5, 3), nn.GRU(3, 2)), {nn.Linear, nn.GRU}, dtype=torch.qint8)
    linear, gru = int8[0], int8[1]
    assert [tuple(t.shape) for t in params.packed_weights(linear)] == [(3, 5), (3,)]
    assert sorted(tuple(t.shape) for t in params.packed_weights(gru)) == [(6,), (6,), (6, 2), (6, 3)]
    assert params.packed_weights(nn.Linear(2, 2)) == []


def test_int8_convolutions_fed_by_binary_maps_count_binary_macs_as_in_float():
    """"BAM + int8": binary activation layers stay float, their {0, 1} maps are quantized exactly (two codes)."""
    import leanspeech.models  # noqa: F401  (registers the models)
    from leanspeech.registry import MODELS

    torch.manual_seed(0)
    bam = MODELS.build("dnsmos_cnn", activation="BinaryActivation", pool="avg").eval()
    features = torch.randn(1, 120, 449)
    int8 = quantize_static(bam, [torch.randn(2, 120, 449)], observer="minmax")
    fp32, q = profile_model(bam, features), profile_model(int8, features)
    assert q.binary_macs == fp32.binary_macs == 288 * (32 * 224 * 60 + 32 * 112 * 30 + 64 * 56 * 15)
    assert (q.macs, q.flops) == (fp32.macs, fp32.flops)
    assert any("binary input" in r.note and "int8" in r.note for r in q.layers)

"""consolidate(): plain layers at the live widths, equal eval output, smaller profile, save/load on its own."""

import pytest
import torch
from torch import nn

from leanspeech.compress.consolidate import CONSOLIDATED, consolidate, live_widths
from leanspeech.models.base import SpeechModel
from leanspeech.models.io import load_model, save_model
from leanspeech.nn.dynamic import AdaptiveConv2d, DynamicConv1d, DynamicConv2d, DynamicLinear, WidthLayer
from leanspeech.nn.dynamic_adaptive import AdaptiveBatchNorm1d, AdaptiveBatchNorm2d, AdaptiveGRU
from leanspeech.profile import profile_model
from leanspeech.registry import MODELS

TOL = 1e-5


class Chain(nn.Module):
    """Linear → Conv1d → BatchNorm1d → GRU → Linear, every width but the last one dynamic."""

    def __init__(self):
        super().__init__()
        self.project = DynamicLinear(20, 16, min_fraction=0.25)
        self.act = nn.Tanh()
        self.conv = DynamicConv1d(16, 12, 3, padding=1, source=self.project)
        self.norm = AdaptiveBatchNorm1d(self.conv)
        self.relu = nn.ReLU()
        self.gru = AdaptiveGRU(self.conv, 8, batch_first=True, bidirectional=True)
        self.head = nn.Linear(16, 1)

    def forward(self, x):  # (B, T, 20)
        h = self.act(self.project(x)).transpose(1, 2)
        h = self.relu(self.norm(self.conv(h))).transpose(1, 2)
        return self.head(self.gru(h)[0])


class ResidualBlock(nn.Module):
    """Conv2d → BN2d → ReLU → Conv2d → BN2d + skip; the inner channels are dynamic."""

    def __init__(self, channels: int = 8, inner: int = 16):
        super().__init__()
        self.conv1 = DynamicConv2d(channels, inner, 3, padding=1, bias=False)
        self.bn1 = AdaptiveBatchNorm2d(self.conv1)
        self.relu = nn.ReLU()
        self.conv2 = AdaptiveConv2d(self.conv1, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        h = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(h + x)


def settle(model: nn.Module, inputs: torch.Tensor, fractions: dict[str, float]) -> nn.Module:
    """Set widths, run a few training passes (noise, BatchNorm statistics), return the model in eval."""
    modules = dict(model.named_modules())
    for name, fraction in fractions.items():
        modules[name].set_relative_(fraction)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(inputs)
    return model.eval()


def assert_plain(model: nn.Module) -> None:
    for module in model.modules():
        assert not isinstance(module, WidthLayer), type(module).__name__


def test_chain_consolidates_to_plain_layers_with_equal_output():
    torch.manual_seed(0)
    x = torch.randn(4, 10, 20)
    model = settle(Chain(), x, {"project.width": 9.3 / 16, "conv.width": 7.5 / 12})
    plain = consolidate(model)
    assert_plain(plain)
    assert (plain.project.out_features, plain.conv.in_channels, plain.conv.out_channels) == (10, 10, 8)
    assert (plain.norm.num_features, plain.gru.input_size) == (8, 8)
    assert (model(x) - plain(x)).abs().max() < TOL
    assert isinstance(model.project, DynamicLinear)  # the input model is left as it was


def test_residual_block_consolidates_with_equal_output():
    torch.manual_seed(1)
    x = torch.randn(2, 8, 6, 5)
    block = ResidualBlock()
    block = settle(block, x, {"conv1.width": 5.2 / 16})
    plain = consolidate(block)
    assert_plain(plain)
    assert plain.conv1.out_channels == 6 and plain.conv2.in_channels == 6 and plain.bn1.num_features == 6
    assert (block(x) - plain(x)).abs().max() < TOL


def test_profiler_counts_dynamic_layers_at_their_live_width():
    torch.manual_seed(2)
    x = torch.randn(4, 10, 20)
    model = settle(Chain(), x, {"project.width": 9.3 / 16, "conv.width": 7.5 / 12})
    dynamic, plain = profile_model(model, x), profile_model(consolidate(model), x)
    assert dynamic.complete and plain.complete
    assert dynamic.macs == pytest.approx(plain.macs)
    # Elementwise layers after a dynamic width still run on its zero units until consolidation:
    # Tanh (7 FLOPs) on 16 − 10 units and ReLU (1 FLOP) on 12 − 8 channels, 10 frames per sample.
    assert dynamic.flops - plain.flops == pytest.approx(7 * 6 * 10 + 1 * 4 * 10)
    assert dynamic.effective_params == pytest.approx(plain.params.dense)
    full = Chain().eval()
    assert profile_model(full, x).macs > plain.macs
    # By hand: rows·in·out (+ rows·out of bias) for Linear; C_out·L·C_in·k (+ bias) for Conv1d.
    rows, steps = 4 * 10, 10
    assert _layer(dynamic, "project").macs == rows * 20 * 10 + rows * 10
    assert _layer(dynamic, "conv").macs == 4 * 8 * steps * 10 * 3 + 4 * 8 * steps
    assert _layer(dynamic, "project").effective_params == 20 * 10 + 10


def _layer(profile, name):
    return next(record for record in profile.layers if record.name == name)


@MODELS.register("test-dynamic-chain")
class DynamicChainModel(SpeechModel):
    hop_length = 160

    def __init__(self, features: int = 20):
        super().__init__()
        self.chain = Chain()

    def forward(self, x):
        return self.chain(x)


def test_consolidated_model_saves_and_loads_on_its_own(tmp_path):
    torch.manual_seed(3)
    x = torch.randn(2, 10, 20)
    model = settle(DynamicChainModel(), x, {"chain.project.width": 9.3 / 16, "chain.conv.width": 7.5 / 12})
    plain = consolidate(model)
    assert plain.registry_name == CONSOLIDATED and MODELS.get(CONSOLIDATED)
    assert plain.get_config()["widths"] == live_widths(model) == {"chain.project.width": 10, "chain.conv.width": 8}
    path = save_model(plain, tmp_path / "model.pt")
    loaded = load_model(path)
    assert_plain(loaded)
    assert (loaded(x) - model(x)).abs().max() < TOL
    assert sum(p.numel() for p in loaded.parameters()) == sum(p.numel() for p in plain.parameters())


def test_unknown_width_in_a_consolidated_config_is_an_error():
    with pytest.raises(KeyError, match="no dynamic width"):
        MODELS.build(CONSOLIDATED, base="test-dynamic-chain", base_config={}, widths={"chain.nowhere.width": 3})

"""DynResNet34: full width is ResNet34, consolidation is output-exact for every stack choice, the
consolidated model has the parameter count of its placement (counted by formula) and costs less."""

import math

import pytest
import torch

from leanspeech.compress.consolidate import consolidate, live_widths
from leanspeech.models.io import load_model, save_model
from leanspeech.models.spoof_resnet import SpoofResNet34
from leanspeech.models.spoof_resnet_dynamic import DynResNet34, channel_progression
from leanspeech.nn.dynamic import WidthLayer
from leanspeech.nn.dynamic_width import LayerWidth
from leanspeech.profile import profile_model

CHANNELS = (8, 12, 16, 24)
TARGET_K = {"B0": 3.4, "B1": 5.7, "B2": 9.2, "B3": 10.5}  # fractional widths: boundary units carry √f


def expected_parameters(widths, inner, depths=(3, 4, 6, 3), n_mels=80, attention=128) -> int:
    """The placement's count by hand: conv1 reads the previous width and writes the stack's inner
    (full) width, conv2 and the skip projection write the stack's width, BN has 2 per channel."""
    total = 9 * widths[0] + 2 * widths[0]  # stem writes stack 0's width
    previous, rows = widths[0], n_mels
    for index, (width, full, depth) in enumerate(zip(widths, inner, depths)):
        for block in range(depth):
            in_channels = previous if block == 0 else width
            total += 9 * in_channels * full + 2 * full + 9 * full * width + 2 * width
            if block == 0 and index > 0:
                total += in_channels * width + 2 * width
        previous = width
        rows = rows if index == 0 else (rows + 1) // 2
    features = previous * rows
    pooling = (3 * features * attention + attention) + 2 * attention + (attention * features + features)
    return total + pooling + 2 * features + 1


def shrunk(stacks, seed=0):
    torch.manual_seed(seed)
    model = DynResNet34(channels=CHANNELS, stacks_learning=stacks)
    for name, width in model.stack_widths().items():
        width.set_relative_(TARGET_K[name] / width.units)
    return model


def test_full_width_is_resnet34():
    torch.manual_seed(1)
    plain = SpoofResNet34(channels=CHANNELS).eval()
    dynamic = DynResNet34(channels=CHANNELS)
    missing, unexpected = dynamic.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(key.endswith("width.fraction") for key in missing) and len(missing) == 4
    x = plain.example_input(seconds=0.5, batch=2)
    assert torch.allclose(plain(x), dynamic.eval()(x), atol=1e-6)


@pytest.mark.parametrize("stacks", [("B0", "B1", "B2", "B3"), ("B0",), ("B1",), ("B2",), ("B3",)])
def test_consolidation_is_output_exact(stacks):
    model = shrunk(stacks)
    wav = model.example_wav(0.4, batch=3)
    model.train()
    for _ in range(2):  # train-mode passes move the BatchNorm statistics of the live channels
        model.forward_wav(wav).sum().backward()
    model.eval()
    plain = consolidate(model).eval()
    assert not any(isinstance(m, (WidthLayer, LayerWidth)) for m in plain.modules())
    expected = [math.ceil(TARGET_K[n]) if n in stacks else c for n, c in zip(("B0", "B1", "B2", "B3"), CHANNELS)]
    assert channel_progression(model) == channel_progression(plain) == expected
    with torch.no_grad():
        assert (model.forward_wav(wav) - plain.forward_wav(wav)).abs().max() < 1e-5


def test_single_stack_widths_are_named_and_only_that_stack_learns():
    model = shrunk(("B2",))
    assert list(model.stack_widths()) == ["B2"]
    assert live_widths(model) == {"stacks.2.0.shortcut.0.width": 10}


def test_consolidated_parameters_by_formula_and_profiler_savings(tmp_path):
    model = shrunk(("B0", "B1", "B2", "B3")).eval()
    plain = consolidate(model).eval()
    widths = channel_progression(plain)
    assert sum(p.numel() for p in plain.parameters()) == expected_parameters(widths, CHANNELS)
    full = profile_model(DynResNet34(channels=CHANNELS), seconds=0.3)
    small = profile_model(plain, seconds=0.3)
    assert full.params.dense == expected_parameters(CHANNELS, CHANNELS) + 4  # + one λ per stack
    assert small.params.dense == expected_parameters(widths, CHANNELS)
    # the dynamic model, profiled before consolidation, counts its live parameters already
    assert profile_model(model, seconds=0.3).effective_params == small.params.dense
    assert small.per_second["flops"] < 0.6 * full.per_second["flops"]
    loaded = load_model(save_model(plain, tmp_path / "drn.pt"))
    wav = model.example_wav(0.5, batch=2)
    with torch.no_grad():
        assert (loaded.forward_wav(wav) - model.forward_wav(wav)).abs().max() < 1e-5


def test_unknown_stack_is_refused():
    with pytest.raises(ValueError, match="unknown stack"):
        DynResNet34(channels=CHANNELS, stacks_learning=("B4",))

"""ResNet34 countermeasure: stack shapes, parameter count by formula, save/load, export."""

import pytest
import torch

from leanspeech.models.spoof_resnet import SpoofResNet34
from leanspeech.registry import MODELS

PAPER_CHANNELS = (32, 64, 128, 256)
LEARNED_CHANNELS = (5, 9, 17, 42)  # width-noise-injection.md §VI.E, DRN34 BX 12.5


def expected_parameters(channels, depths=(3, 4, 6, 3), n_mels=80, attention=128) -> int:
    """Counted layer by layer: 3×3 convs without bias, BatchNorm weight + bias, 1×1 projections."""
    total = 9 * channels[0] + 2 * channels[0]  # stem
    previous, rows = channels[0], n_mels
    for index, (width, depth) in enumerate(zip(channels, depths)):
        for block in range(depth):
            in_channels = previous if block == 0 else width
            total += 9 * in_channels * width + 2 * width + 9 * width * width + 2 * width
            if block == 0 and (index > 0 or in_channels != width):
                total += in_channels * width + 2 * width
        previous = width
        rows = rows if index == 0 else (rows + 1) // 2
    features = previous * rows
    pooling = (3 * features * attention + attention) + 2 * attention + (attention * features + features)
    return total + pooling + 2 * features + 1


@pytest.mark.parametrize("channels", [PAPER_CHANNELS, LEARNED_CHANNELS])
def test_parameter_count_by_formula(channels):
    model = SpoofResNet34(channels=channels)
    assert sum(p.numel() for p in model.parameters()) == expected_parameters(channels)


def test_default_is_the_paper_resnet34():
    model = SpoofResNet34()
    assert [len(stack) for stack in model.stacks] == [3, 4, 6, 3]
    assert [stack[0].conv1.out_channels for stack in model.stacks] == list(PAPER_CHANNELS)
    assert model.frontend.filterbank.n_bands == 80 and model.task == "spoof" and model.hop_length is None


@torch.no_grad()
def test_stack_shapes_and_logit():
    model = SpoofResNet34(channels=LEARNED_CHANNELS).eval()
    x = model.example_input(seconds=1.0, batch=2)
    assert x.shape == (2, 80, 63)
    h = model.stem(x.unsqueeze(1))
    shapes = []
    for stack in model.stacks:
        h = stack(h)
        shapes.append(tuple(h.shape[1:]))
    # stride 2 in time and frequency at the start of stacks 2-4: 80 → 40 → 20 → 10 rows
    assert shapes == [(5, 80, 63), (9, 40, 32), (17, 20, 16), (42, 10, 8)]
    assert model(x).shape == (2,)


def test_mismatched_channels_and_depths_are_refused():
    with pytest.raises(ValueError, match="same length"):
        SpoofResNet34(channels=(8, 16), depths=(3, 4, 6, 3))


def test_save_load_round_trip(round_trip):
    torch.manual_seed(0)
    round_trip(MODELS.build("spoof_resnet34", channels=LEARNED_CHANNELS), torch.randn(2, 80, 40))


def test_export_torchscript_and_onnx(exported):
    torch.manual_seed(0)
    model = MODELS.build("spoof_resnet34")
    exported(model, torch.randn(1, 80, 48), torch.randn(2, 80, 75))

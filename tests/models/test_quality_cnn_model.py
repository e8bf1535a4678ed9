"""DNSMOS CNN: Table 1 of bam-qat-sqp.md (parameters, layer shapes), options, save/load, export."""

import pytest
import torch
from torch import nn

from leanspeech.models.quality_cnn import QualityCNN
from leanspeech.registry import MODELS


@pytest.fixture
def model() -> QualityCNN:
    torch.manual_seed(0)
    return MODELS.build("dnsmos_cnn").eval()


def test_parameter_count_is_table_1(model):
    assert sum(p.numel() for p in model.parameters()) == 45_697
    per_layer = [sum(p.numel() for p in block.parameters()) for block in model.blocks]
    assert per_layer == [320, 9_248, 9_248, 18_496]
    assert [sum(p.numel() for p in layer.parameters()) for layer in model.dense if isinstance(layer, nn.Linear)] == [
        4_160,
        4_160,
        65,
    ]


@torch.no_grad()
def test_nine_seconds_give_table_1_shapes(model):
    features = model.features(model.example_wav(seconds=9.0))
    assert features.shape == (1, 120, 449)
    h = features.transpose(1, 2).unsqueeze(1)
    shapes = []
    for block in model.blocks:
        h = block(h)
        shapes.append(tuple(h.shape[1:]))
    # Table 1 (time × mel × channels): 224×60×32, 112×30×32, 56×15×32, 56×15×64
    assert shapes == [(32, 224, 60), (32, 112, 30), (32, 56, 15), (64, 56, 15)]
    assert model(features).shape == (1,)


def test_activation_and_global_pool_are_configurable():
    model = QualityCNN(activation="Tanh", pool="avg")
    assert all(isinstance(block.activation, nn.Tanh) for block in model.blocks)
    assert isinstance(model.global_pool, nn.AdaptiveAvgPool2d)
    assert sum(p.numel() for p in model.parameters()) == 45_697
    with pytest.raises(ValueError, match="unknown activation 'Nope'"):
        QualityCNN(activation="Nope")
    with pytest.raises(ValueError, match="pool must be one of"):
        QualityCNN(pool="median")


@torch.no_grad()
def test_global_max_pool_takes_the_largest_activation(model):
    x = torch.randn(2, 120, 40)
    conv_out = model.blocks(x.transpose(1, 2).unsqueeze(1))
    expected = model.dense(conv_out.amax(dim=(2, 3)))
    assert torch.allclose(model(x), expected.squeeze(-1))


def test_save_load_round_trip(model, round_trip):
    round_trip(model, torch.randn(2, 120, 37))


def test_export_torchscript_and_onnx(model, exported):
    exported(model, torch.randn(1, 120, 40), torch.randn(2, 120, 63))

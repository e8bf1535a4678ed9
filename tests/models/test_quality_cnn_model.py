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


def test_input_standardisation_is_part_of_the_model_and_survives_int8(tmp_path):
    from leanspeech.compress.quantize import quantize_static
    from leanspeech.models.io import load_model, save_model

    torch.manual_seed(0)
    plain = QualityCNN().eval()
    standardised = QualityCNN(input_mean=-8.0, input_std=5.0).eval()
    standardised.load_state_dict(plain.state_dict())  # the same weights: only the input differs
    x = torch.randn(2, 120, 60) * 5 - 8
    with torch.no_grad():
        assert torch.allclose(standardised(x), plain((x + 8.0) / 5.0), atol=1e-5)
        reloaded = load_model(save_model(standardised, tmp_path / "model.pt")).eval()
        assert (reloaded.input_mean, reloaded.input_std) == (-8.0, 5.0)
        quantized = quantize_static(standardised, [x])
        assert torch.allclose(quantized(x), standardised(x), atol=0.15)
    with pytest.raises(ValueError, match="input_std must be positive"):
        QualityCNN(input_std=0.0)

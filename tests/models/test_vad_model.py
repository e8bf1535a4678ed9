"""CRNNVAD: shapes, parameter count by formula, two frames of look-ahead, save/load, export."""

import pytest
import torch

from leanspeech.models.vad import CRNNVAD
from leanspeech.registry import MODELS


@pytest.fixture
def model() -> CRNNVAD:
    torch.manual_seed(0)
    return MODELS.build("crnn_vad").eval()


def test_frontend_and_output_shapes(model):
    wav = model.example_wav(seconds=2.0, batch=3)
    features = model.features(wav)
    assert features.shape == (3, 80, 1 + 32000 // 256)  # centred STFT, hop 256
    probability = model(features)
    assert probability.shape == (3, features.shape[-1])
    assert ((probability > 0) & (probability < 1)).all()
    assert model.outputs_per_second() == 16000 / 256 and model.task == "vad"
    assert model.frontend.filterbank.matrix.shape == (80, 513)


def test_parameter_count_by_formula(model):
    conv = 80 * 64 * 3 + 64
    gru = 3 * (64 * 64 + 64 * 64 + 2 * 64)
    head = 64 + 1
    assert sum(p.numel() for p in model.parameters()) == conv + gru + head


@torch.no_grad()
def test_output_sees_exactly_two_future_frames(model):
    x = torch.randn(1, 80, 30)
    base = model(x)
    t = 10
    later = x.clone()
    later[..., t + 3] += 5.0  # three frames ahead: output t must not change
    assert torch.equal(model(later)[:, : t + 1], base[:, : t + 1])
    ahead = x.clone()
    ahead[..., t + 2] += 5.0  # two frames ahead: inside the kernel's look-ahead
    assert not torch.allclose(model(ahead)[:, t], base[:, t])
    assert torch.equal(model(ahead)[:, :t], base[:, :t])


def test_save_load_round_trip(model, round_trip):
    round_trip(model, torch.randn(2, 80, 40))


def test_export_torchscript_and_onnx(model, exported):
    exported(model, torch.randn(1, 80, 40), torch.randn(2, 80, 57))

"""GRU enhancement host: Table 1's 1.34 M parameters, mask behaviour, iSTFT path, save/load, export."""

import pytest
import torch
from torch import nn

from leanspeech.models.enhance_gru import EnhanceGRU
from leanspeech.registry import MODELS


@pytest.fixture
def model() -> EnhanceGRU:
    torch.manual_seed(0)
    return MODELS.build("enhance_gru").eval()


def test_parameter_count_matches_the_paper(model):
    fc_in = 161 * 320 + 320
    gru_layer = 3 * (320 * 320 + 320 * 320 + 2 * 320)  # PyTorch keeps input and hidden biases
    fc_out = 320 * 161 + 161
    count = sum(p.numel() for p in model.parameters())
    assert count == fc_in + 2 * gru_layer + fc_out
    assert round(count / 1e6, 2) == 1.34  # dgru-speech-enhancement.md Table 1, GRU model


@torch.no_grad()
def test_features_are_161_bin_magnitudes_at_100_frames_per_second(model):
    wav = model.example_wav(seconds=1.0, batch=2)
    magnitude = model.features(wav)
    assert magnitude.shape == (2, 161, 101)
    reference = torch.stft(wav, 320, 160, window=torch.hann_window(320), return_complex=True).abs()
    assert torch.allclose(magnitude, reference, atol=1e-5)
    enhanced = model(magnitude)
    assert enhanced.shape == magnitude.shape
    assert (enhanced <= magnitude).all() and (enhanced >= 0).all()  # a ratio mask in (0, 1)
    assert model.outputs_per_second() == 100.0


@torch.no_grad()
@pytest.mark.parametrize(("bias", "gain"), [(30.0, 1.0), (-30.0, 0.0)])
def test_saturated_mask_passes_or_removes_the_signal(model, bias, gain):
    model.mask_fc.weight.zero_()
    model.mask_fc.bias.fill_(bias)  # sigmoid(±30) is 1 or 0 to float precision
    wav = model.example_wav(seconds=0.5, batch=2)
    out = model.enhance(wav)
    assert out.shape == wav.shape
    assert torch.allclose(out, gain * wav, atol=1e-5)


def test_rnn_is_chosen_by_name():
    assert isinstance(EnhanceGRU(hidden=16, rnn="GRU").rnn, nn.GRU)
    lstm = EnhanceGRU(hidden=16, rnn="lstm")
    assert isinstance(lstm.rnn, nn.LSTM) and lstm.rnn.num_layers == 2
    assert lstm(torch.rand(1, 161, 7)).shape == (1, 161, 7)
    with pytest.raises(ValueError, match="unknown rnn 'nope'"):
        EnhanceGRU(rnn="nope")


def test_save_load_round_trip(round_trip):
    torch.manual_seed(0)
    round_trip(MODELS.build("enhance_gru", hidden=32, rnn="lstm"), torch.rand(2, 161, 20))


def test_export_torchscript_and_onnx(model, exported):
    exported(model, torch.rand(1, 161, 30), torch.rand(2, 161, 47))

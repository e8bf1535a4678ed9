"""MPT enhancement host: Table 1's size and GRU cost, band layout, deep filtering, D-GRU drop-in, save/load, export."""

import warnings

import pytest
import torch

from leanspeech.models.enhance_common import magnitude_deep_filter
from leanspeech.models.enhance_mpt import EnhanceMPT
from leanspeech.nn.dgru import DGRU
from leanspeech.profile import profile_model
from leanspeech.registry import MODELS

SMALL = {"bands": 6, "channels": 8, "hidden": 12, "ffn": 16, "decoder_hidden": 16}


def gru_step_macs(inputs: int, hidden: int) -> int:
    return 3 * hidden * (inputs + hidden) + 6 * hidden  # r, z, n products + both bias vectors


@pytest.fixture(scope="module")
def model() -> EnhanceMPT:
    torch.manual_seed(0)
    return MODELS.build("enhance_mpt").eval()


def test_parameter_count_matches_the_paper(model):
    gru = 3 * (24 * 48 + 48 * 48 + 2 * 48)
    block = 4 * gru + (4 * 48 * 24 + 24) + 2 * 48 + (24 * 128 + 128) + (128 * 24 + 24)
    encoder = 24 * (7 * 24 + 24)
    decoder = 24 * (24 * 128 + 128) + 24 * (128 * 7 * 4 + 7 * 4)
    count = sum(p.numel() for p in model.parameters())
    assert count == encoder + 2 * block + decoder == 275_392
    assert round(count / 1e6, 2) == 0.28  # dgru-speech-enhancement.md Table 1, MPT


def test_profile_is_complete_and_gru_cost_is_eight_grus_over_24_bands(model):
    profile = profile_model(model, seconds=0.2)
    assert profile.complete and profile.unknown == []
    gru_names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.GRU)]
    gru_per_second = sum(profile.layer_per_second[n]["macs"] for n in gru_names)
    assert gru_per_second == pytest.approx(8 * 24 * 100 * gru_step_macs(24, 48))
    assert gru_per_second / 1e6 == pytest.approx(210.71, rel=0.04)  # Table 1 (its elementwise convention differs)
    other = profile.per_second["macs"] - gru_per_second
    assert other / 1e6 == pytest.approx(71.61, rel=0.04)


def test_deep_filter_equals_a_brute_force_sum():
    torch.manual_seed(1)
    magnitude, taps = torch.rand(2, 5, 9), torch.randn(2, 3, 5, 9)
    expected = torch.zeros_like(magnitude)
    for t in range(9):
        for k in range(3):
            if t - k >= 0:
                expected[..., t] += taps[:, k, :, t] * magnitude[..., t - k]
    torch.testing.assert_close(magnitude_deep_filter(magnitude, taps), expected)


@torch.no_grad()
def test_shapes_and_a_pass_through_decoder_gives_the_input_back():
    torch.manual_seed(0)
    model = EnhanceMPT(**SMALL).eval()
    wav = model.example_wav(seconds=0.3, batch=2)
    magnitude = model.features(wav)
    assert magnitude.shape == (2, 161, 31)
    assert model(magnitude).shape == magnitude.shape and (model(magnitude) >= 0).all()
    last = model.decoder[-1]
    last.weight.zero_()
    # per band: [mask × 27 bins, tap 0 × 27, tap 1 × 27, tap 2 × 27]: sigmoid(30) = tanh(30) = 1 in float32
    bias = torch.zeros(6, 4, 27)
    bias[:, :2] = 30.0
    last.bias.copy_(bias.flatten())
    torch.testing.assert_close(model(magnitude), magnitude)
    out = model.enhance(wav)
    assert out.shape == wav.shape
    torch.testing.assert_close(out, wav, atol=1e-5, rtol=0)


@torch.no_grad()
def test_dense_checkpoint_loads_into_the_dgru_host():
    torch.manual_seed(0)
    dense = EnhanceMPT(**SMALL).eval()
    magnitude = torch.rand(1, 161, 12)
    full = EnhanceMPT(**SMALL, rnn="dgru", rnn_options={"update_percent": 100}).eval()
    half = EnhanceMPT(**SMALL, rnn="DGRU", rnn_options={"update_percent": 50}).eval()
    for host in (full, half):
        host.load_state_dict(dense.state_dict())
        grus = [m for m in host.modules() if isinstance(m, torch.nn.GRU)]
        assert len(grus) == 6 and all(isinstance(m, DGRU) for m in grus)  # 2 × (bidirectional + 2 time heads)
    assert torch.equal(full(magnitude), dense(magnitude))
    assert not torch.allclose(half(magnitude), dense(magnitude))
    dense_gru = profile_model(dense, seconds=0.1).layer_per_second["blocks.0.frequency"]["macs"]
    half_gru = profile_model(half, seconds=0.1).layer_per_second["blocks.0.frequency"]["macs"]
    assert half_gru == pytest.approx(dense_gru * (1 + 2 * 6 / 12) / 3)  # A = 6 of 12 neurons


def test_save_load_round_trip(round_trip):
    torch.manual_seed(0)
    round_trip(MODELS.build("enhance_mpt", **SMALL, rnn="dgru", rnn_options={"update_percent": 50}), torch.rand(2, 161, 9))


def test_export_torchscript_and_onnx(exported):
    # ONNX at the traced shape: the TorchScript ONNX exporter bakes the GRUs' zero initial state to the
    # traced batch (B · frames for the band path), so a different frame count fails in onnxruntime.
    torch.manual_seed(0)
    model = EnhanceMPT(**SMALL).eval()
    exported(model, torch.rand(2, 161, 10), torch.rand(2, 161, 10))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings
        traced = torch.jit.trace(model, torch.rand(1, 161, 10))
        longer = torch.rand(2, 161, 17)
        torch.testing.assert_close(traced(longer), model(longer), rtol=1e-5, atol=1e-5)

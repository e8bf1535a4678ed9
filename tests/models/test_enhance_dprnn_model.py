"""Time-frequency DPRNN enhancement host: Table 1's size and cost, complex features, D-GRU drop-in, save/load, export."""

import warnings

import pytest
import torch

from leanspeech.models.enhance_dprnn import EnhanceDPRNN
from leanspeech.nn.dgru import DGRU
from leanspeech.profile import profile_model
from leanspeech.registry import MODELS

SMALL = {"channels": 8, "blocks": 2}


def test_parameter_count_matches_the_paper():
    model = MODELS.build("enhance_dprnn")
    gru = 3 * (64 * 64 + 64 * 64 + 2 * 64)
    block = 3 * gru + (128 * 64 + 64) + (64 * 64 + 64) + 2 * 2 * 64
    count = sum(p.numel() for p in model.parameters())
    assert count == (2 * 64 + 64) + 4 * block + (64 * 2 + 2) == 350_530
    assert round(count / 1e6, 2) == 0.35  # dgru-speech-enhancement.md Table 1, DPRNN


@pytest.mark.slow
def test_profile_is_complete_and_gru_cost_is_twelve_grus_over_161_bins():
    model = MODELS.build("enhance_dprnn").eval()
    profile = profile_model(model, seconds=0.05)
    assert profile.complete and profile.unknown == []
    gru_names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.GRU)]
    gru_per_second = sum(profile.layer_per_second[n]["macs"] for n in gru_names)
    assert gru_per_second == pytest.approx(12 * 161 * 100 * (3 * 64 * 128 + 6 * 64))
    assert gru_per_second / 1e6 == pytest.approx(4878.35, rel=0.02)  # Table 1
    assert (profile.per_second["macs"] - gru_per_second) / 1e6 == pytest.approx(811.02, rel=0.02)


@torch.no_grad()
def test_features_are_the_stft_and_an_identity_host_gives_the_input_back():
    torch.manual_seed(0)
    model = EnhanceDPRNN(**SMALL).eval()
    wav = model.example_wav(seconds=0.2, batch=2)
    spectrum = model.features(wav)
    reference = torch.stft(wav, 320, 160, window=torch.hann_window(320), return_complex=True)
    torch.testing.assert_close(spectrum, torch.view_as_real(reference).permute(0, 3, 1, 2), atol=1e-5, rtol=0)
    assert model(spectrum).shape == spectrum.shape == (2, 2, 161, 21)
    # blocks silenced (zero LayerNorm gains): the host is decoder ∘ encoder, made the identity here
    for block in model.blocks:
        block.intra_norm.weight.zero_(), block.intra_norm.bias.zero_()
        block.inter_norm.weight.zero_(), block.inter_norm.bias.zero_()
    model.encoder.weight.zero_(), model.encoder.bias.zero_(), model.decoder.weight.zero_(), model.decoder.bias.zero_()
    model.encoder.weight[0, 0] = model.encoder.weight[1, 1] = 1.0
    model.decoder.weight[0, 0] = model.decoder.weight[1, 1] = 1.0
    torch.testing.assert_close(model(spectrum), spectrum)
    torch.testing.assert_close(model.enhance(wav), wav, atol=1e-5, rtol=0)


@torch.no_grad()
def test_dense_checkpoint_loads_into_the_dgru_host():
    torch.manual_seed(0)
    dense = EnhanceDPRNN(**SMALL).eval()
    spectrum = torch.randn(1, 2, 161, 6)
    full = EnhanceDPRNN(**SMALL, rnn="dgru", rnn_options={"update_percent": 100}).eval()
    half = EnhanceDPRNN(**SMALL, rnn="dgru", rnn_options={"update_percent": 50}).eval()
    for host in (full, half):
        host.load_state_dict(dense.state_dict())
        grus = [m for m in host.modules() if isinstance(m, torch.nn.GRU)]
        assert len(grus) == 4 and all(isinstance(m, DGRU) for m in grus)  # 2 blocks × (bidirectional + time)
    assert torch.equal(full(spectrum), dense(spectrum))
    assert not torch.allclose(half(spectrum), dense(spectrum))


def test_save_load_round_trip(round_trip):
    torch.manual_seed(0)
    round_trip(MODELS.build("enhance_dprnn", **SMALL, rnn="dgru", rnn_options={"update_percent": 100}), torch.randn(2, 2, 161, 5))


def test_export_torchscript_and_onnx(exported):
    # ONNX at the traced shape (see the MPT test: GRU zero states are baked to the traced batch · frames).
    torch.manual_seed(0)
    model = EnhanceDPRNN(**SMALL).eval()
    exported(model, torch.randn(2, 2, 161, 6), torch.randn(2, 2, 161, 6))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings
        traced = torch.jit.trace(model, torch.randn(1, 2, 161, 6))
        longer = torch.randn(2, 2, 161, 9)
        torch.testing.assert_close(traced(longer), model(longer), rtol=1e-5, atol=1e-5)

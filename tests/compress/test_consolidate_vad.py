"""Whole-model consolidation: DynCRNNVAD (learned mel bands) against its consolidated plain model."""

import pytest
import torch
from torch import nn

from leanspeech.compress.consolidate import consolidate
from leanspeech.models.io import load_model, save_model
from leanspeech.models.vad import CRNNVAD
from leanspeech.models.vad_dynamic import DynCRNNVAD
from leanspeech.nn.dynamic import WidthLayer
from leanspeech.profile import profile_model


@pytest.fixture(scope="module")
def vad_pair():
    torch.manual_seed(0)
    model = DynCRNNVAD(conv_channels=16, gru_hidden=16)
    assert torch.equal(model.frontend.filterbank.linear.weight, CRNNVAD().frontend.filterbank.matrix)  # mel init
    model.frontend.filterbank.linear.width.set_relative_(34.4 / 80)
    model.conv.width.set_relative_(9.7 / 16)
    wav = model.example_wav(1.0, batch=2)
    model.train()
    assert torch.isfinite(model.forward_wav(wav)).all()  # noise on a band never reaches log of a negative
    return model.eval(), consolidate(model).eval(), wav


def test_consolidated_vad_has_fewer_bands_and_equal_output(vad_pair):
    model, plain, wav = vad_pair
    assert not any(isinstance(m, WidthLayer) for m in plain.modules())
    assert type(plain.frontend.filterbank.linear) is nn.Linear and plain.frontend.filterbank.linear.out_features == 35
    assert (plain.conv.in_channels, plain.conv.out_channels, plain.gru.input_size) == (35, 10, 10)
    assert (model.forward_wav(wav) - plain.forward_wav(wav)).abs().max() < 1e-5


def test_consolidated_vad_costs_less_and_reloads(vad_pair, tmp_path):
    model, plain, wav = vad_pair
    full = DynCRNNVAD(conv_channels=16, gru_hidden=16)
    assert profile_model(plain, seconds=1.0).per_second["macs"] < profile_model(full, seconds=1.0).per_second["macs"]
    loaded = load_model(save_model(plain, tmp_path / "vad.pt"))
    assert (loaded.forward_wav(wav) - model.forward_wav(wav)).abs().max() < 1e-5

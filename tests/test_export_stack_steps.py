"""Stacked compression steps (leanspeech/stack.py) on tiny models: each step checked against its reference."""

from __future__ import annotations

import pytest
import torch

import leanspeech.models  # noqa: F401
from leanspeech.nn.binary import BinaryActivation
from leanspeech.nn.dgru import DGRU
from leanspeech.nn.dynamic_width import LayerWidth
from leanspeech.registry import MODELS
from leanspeech.stack import StackError, apply_stack


def dyn_vad():
    torch.manual_seed(0)
    model = MODELS.build("dyn_crnn_vad", conv_channels=16, gru_hidden=16).eval()
    for module in model.modules():
        if isinstance(module, LayerWidth):
            module.set_relative_(0.5)
    return model


def test_consolidate_then_full_dgru_keeps_the_output():
    model = dyn_vad()
    stacked = apply_stack(model, ["consolidate", {"name": "dgru", "update_percent": 100}])
    assert isinstance(stacked.gru, DGRU) and not any(isinstance(m, LayerWidth) for m in stacked.modules())
    wav = model.example_wav(1.0)
    with torch.no_grad():
        torch.testing.assert_close(stacked.forward_wav(wav), model.forward_wav(wav), rtol=1e-5, atol=1e-5)


def test_half_dgru_updates_half_the_units():
    stacked = apply_stack(dyn_vad(), ["consolidate", {"name": "dgru", "update_percent": 50}])
    assert stacked.gru.count == 8  # ⌈50 % of 16⌉ (D-GRU updates the top-P % of the update gate)


def test_binary_activations_then_int8():
    torch.manual_seed(0)
    model = MODELS.build("dnsmos_cnn", channels=(8, 8, 8, 16), dense=16).eval()
    binary = apply_stack(model, ["binarize"])
    assert sum(isinstance(m, BinaryActivation) for m in binary.modules()) == 4
    quantized = apply_stack(binary, [{"name": "int8", "calibration_batches": 2, "seconds": 1.0}])
    features = model.example_input(1.0, batch=2)
    with torch.no_grad():
        float_out, int8_out = binary(features), quantized(features)
    assert int8_out.shape == float_out.shape
    assert (int8_out - float_out).abs().max() < 0.1 * float_out.abs().max() + 0.05


def test_steps_that_do_not_apply_are_named():
    plain = MODELS.build("dnsmos_cnn", channels=(8, 8, 8, 16), dense=16)
    with pytest.raises(StackError, match="consolidate: QualityCNN has no dynamic widths"):
        apply_stack(plain, ["consolidate"])
    with pytest.raises(StackError, match="dgru: QualityCNN has no nn.GRU"):
        apply_stack(plain, ["dgru"])
    with pytest.raises(StackError, match="prune: this step trains or calibrates on data"):
        apply_stack(plain, ["prune"])
    with pytest.raises(StackError, match=r"steps.0: unknown step 'sparsify'"):
        apply_stack(plain, ["sparsify"])
    with pytest.raises(StackError, match=r"steps.0 \(dgru\): unknown argument\(s\) \['percent'\]"):
        apply_stack(plain, [{"name": "dgru", "percent": 50}])

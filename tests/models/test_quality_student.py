"""The convolutional transformer quality students: sizes, Distill-MOS equivalence, export, save/load."""

from __future__ import annotations

import pytest
import torch

from leanspeech.models.quality_student import (
    SIZES,
    QualityStudent,
    conv_output_frequencies,
    load_distill_mos_weights,
    sinusoidal_positions,
)
from leanspeech.registry import MODELS

DISTILL_MOS_PARAMETERS = 4_133_226  # distillmos 0.9.1, reference-details.md


def parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_the_sizes_grow_and_span_two_orders_of_magnitude_up_to_distill_mos():
    counts = [parameters(QualityStudent(size=s)) for s in SIZES]
    assert len(counts) >= 6 and counts == sorted(counts)
    assert counts[-1] / counts[0] >= 100
    assert counts[-1] == DISTILL_MOS_PARAMETERS


def test_registered_and_explicit_dimensions_override_preset():
    model = MODELS.build("quality_student", size="xs", channels=(8, 8, 8), d_model=24, heads=3, layers=2)
    assert [c.out_channels for c in model.conv_layers()] == [8, 8, 8]
    assert model.head.projection.in_features == 8 * conv_output_frequencies(3)
    assert len(model.head.encoder.layers) == 2 and model.head.projection.out_features == 24
    with pytest.raises(ValueError, match="divisible"):
        QualityStudent(d_model=30, heads=4)


def test_frequency_and_time_strides_follow_distill_mos():
    assert conv_output_frequencies(6) == 4  # 161 → 159 → 79 → 39 → 19 → 9 → 4
    model = QualityStudent(size="xxs").eval()
    x = model.example_input(seconds=1.0, batch=2)  # 16000 + 2·80 padded samples → 100 frames of 320, hop 160
    assert x.shape == (2, 2, 161, 100)
    frames = model.cnn(x)
    assert frames.shape[-2:] == (4, 50)  # time stride 2 in the last block only
    mos = model(x)
    assert mos.shape == (2,) and bool(((mos > 1) & (mos < 5)).all())


def test_positions_match_xls_r_sqa_formula():
    pe = sinusoidal_positions(384, 6)
    position, i = 17, 2  # feature pair i: sin at 2i, cos at 2i + 1
    angle = position * torch.exp(torch.tensor(2 * i * -torch.log(torch.tensor(768.0)).item() / 6))
    assert torch.allclose(pe[position, 2 * i], torch.sin(angle)) and torch.allclose(pe[position, 2 * i + 1], torch.cos(angle))


@pytest.mark.slow
def test_xl_with_distill_mos_weights_equals_the_peer():
    peer = pytest.importorskip("leanspeech.peers.distill_mos").DistillMos()
    assert peer.parameter_count() == DISTILL_MOS_PARAMETERS
    student = load_distill_mos_weights(QualityStudent(size="xl"), peer.model).eval()
    wav = 0.1 * torch.randn(1, peer.crop_length, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = peer.model(wav).reshape(-1)
        got = student.forward_wav(wav)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_save_load_round_trip(round_trip):
    model = QualityStudent(size="xs")
    round_trip(model, model.example_input(seconds=0.5, batch=2))


def test_export_torchscript_and_onnx(exported):
    model = QualityStudent(size="xs")
    # The fused inference kernel of nn.TransformerEncoderLayer has no ONNX form: export on the slow path.
    # torch's attention exports its sequence length as a constant (torch 2.13), so the ONNX graph is for
    # one crop length (Distill-MOS scores fixed 7.68 s crops) and any batch.
    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        exported(model, model.example_input(seconds=0.6, batch=2), model.example_input(seconds=0.6, batch=3) * 0.5)
    finally:
        torch.backends.mha.set_fastpath_enabled(enabled)

"""Export of every deployable model family, checked against PyTorch; the export CLI; clear failures."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime
import pytest
import torch
from torch import nn

import leanspeech.models  # noqa: F401  (fills the registry)
from leanspeech.cli import main
from leanspeech.compress.binarize import binarize_activations
from leanspeech.errors import LeanspeechError
from leanspeech.models.base import SpeechModel
from leanspeech.models.io import save_model
from leanspeech.nn.dynamic_width import LayerWidth
from leanspeech.registry import MODELS
from leanspeech.runtime.export import ExportError, deployable, export_onnx, export_runtime, export_torchscript
from leanspeech.stack import apply_stack

SMALL = {
    "crnn_vad": {"conv_channels": 16, "gru_hidden": 16},
    "dyn_crnn_vad": {"conv_channels": 16, "gru_hidden": 16},
    "spoof_resnet34": {"channels": (4, 8, 8, 8), "depths": (1, 1, 1, 1), "attention_channels": 8},
    "dnsmos_cnn": {"channels": (8, 8, 8, 16), "dense": 16},
    "enhance_gru": {"hidden": 24},
}


def small(name: str) -> SpeechModel:
    torch.manual_seed(0)
    model = MODELS.build(name, **SMALL[name]).eval()
    with torch.no_grad():  # BatchNorm statistics other than (0, 1), so that folding them is checked too
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    return model


def shrink_widths(model: nn.Module) -> nn.Module:
    """Give every dynamic width a fractional size, as width learning leaves them."""
    for module in model.modules():
        if isinstance(module, LayerWidth):
            module.set_relative_(0.4)
    return model


@pytest.mark.parametrize("name", sorted(SMALL))
def test_onnx_export_matches_pytorch_on_another_shape(name, tmp_path):
    model = small(name)
    if name == "dyn_crnn_vad":
        model = shrink_widths(model)
    result = export_onnx(model, tmp_path / f"{name}.onnx")
    # An independent run of the file: batch 3 and a length the exporter never saw, waveform to output
    # (a consolidated model's front end keeps only the live filter-bank bands).
    wav = model.example_wav(2.3, batch=3, seed=5)
    session = onnxruntime.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        (got,) = session.run(None, {"features": deployable(model).features(wav).numpy()})
        expected = model.forward_wav(wav).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert result.max_abs_error <= 1e-4 and result.file_bytes == result.path.stat().st_size
    assert result.exporter == "torchscript"  # the quick exporter suffices for these models


def test_dynamic_model_is_consolidated_before_export(tmp_path):
    model = shrink_widths(small("dyn_crnn_vad"))
    plain = deployable(model)
    assert not any(isinstance(m, LayerWidth) for m in plain.modules())
    assert plain.conv.out_channels < model.conv.out_channels  # the live width only
    result = export_torchscript(model, tmp_path / "dyn.ts")
    loaded = torch.jit.load(str(result.path))
    wav = model.example_wav(1.3, batch=2, seed=3)
    with torch.no_grad():
        torch.testing.assert_close(loaded(plain.features(wav)), model.forward_wav(wav), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["crnn_vad", "spoof_resnet34", "enhance_gru"])
def test_torchscript_export_matches_pytorch(name, tmp_path):
    result = export_torchscript(small(name), tmp_path / f"{name}.ts")
    assert result.max_abs_error <= 1e-4


def test_binary_activation_model_exports_heaviside_as_a_comparison(tmp_path):
    model = binarize_activations(small("dnsmos_cnn")).eval()
    result = export_onnx(model, tmp_path / "bam.onnx")
    import onnx

    ops = {node.op_type for node in onnx.load(str(result.path)).graph.node}
    assert "Greater" in ops  # H(x) = 1[x > 0]
    assert result.max_abs_error <= 1e-4


def test_quality_student_exports_with_symbolic_length(tmp_path):
    # The TorchScript-based exporter freezes the length inside nn.MultiheadAttention (and cannot express
    # the fused encoder layer at all): the torch.export-based one writes the file.
    model = MODELS.build("quality_student", size="xxs").eval()
    result = export_onnx(model, tmp_path / "student.onnx")
    assert result.exporter == "dynamo" and result.max_abs_error <= 1e-4
    session = onnxruntime.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    features = model.example_input(3.1, batch=1)  # another batch and a length neither export saw
    with torch.no_grad():
        np.testing.assert_allclose(session.run(None, {"features": features.numpy()})[0], model(features).numpy(),
                                   rtol=1e-4, atol=1e-4)


def test_enhancer_runtime_export_matches_forward_for_gru_and_dgru(tmp_path):
    for rnn, options in (("gru", {}), ("dgru", {"update_percent": 50.0})):
        torch.manual_seed(0)
        model = MODELS.build("enhance_gru", hidden=24, rnn=rnn, rnn_options=options).eval()
        result = export_runtime(model, tmp_path / f"{rnn}.npz")
        assert result.path.is_file() and result.max_abs_error <= 1e-4


def test_vad_runtime_export_consolidates_and_matches_forward(tmp_path):
    for name in ("crnn_vad", "dyn_crnn_vad"):
        result = export_runtime(shrink_widths(small(name)), tmp_path / f"{name}.npz")
        assert result.path.is_file() and result.max_abs_error <= 1e-4


def test_runtime_export_refuses_a_model_without_a_streaming_engine(tmp_path):
    with pytest.raises(ExportError, match="QualityCNN: no streaming runtime"):
        export_runtime(small("dnsmos_cnn"), tmp_path / "quality.npz")


def test_export_cli_streams_a_stacked_vad_stage(tmp_path, capsys):
    stage = tmp_path / "stack" / "stages" / "1-dgru-50.pt"
    save_model(apply_stack(shrink_widths(small("dyn_crnn_vad")), ["consolidate", {"name": "dgru", "update_percent": 50}]),
               stage)
    assert main(["export", str(stage), "--format", "runtime"]) == 0
    assert (stage.parent / "export" / "1-dgru-50.npz").is_file() and "runtime:" in capsys.readouterr().out


def test_an_operator_onnx_cannot_express_is_named(tmp_path):
    # D-GRU's top-P selection writes its mask with an in-place scatter, which the ONNX exporter rejects.
    model = MODELS.build("enhance_gru", hidden=16, rnn="dgru", rnn_options={"update_percent": 50.0}).eval()
    with pytest.raises(ExportError, match=r"EnhanceGRU: operator aten::scatter_ cannot be expressed in ONNX"):
        export_onnx(model, tmp_path / "dgru.onnx")


def test_export_cli_writes_the_file_and_its_check(tmp_path, capsys):
    run_dir = tmp_path / "run"
    save_model(small("crnn_vad"), run_dir / "model.pt")
    assert main(["export", str(run_dir), "--format", "onnx"]) == 0
    written = run_dir / "export" / "model.onnx"
    record = json.loads((run_dir / "export" / "export.json").read_text())
    assert written.is_file() and record["format"] == "onnx" and record["max_abs_error"] <= 1e-4
    assert "max |exported − PyTorch|" in capsys.readouterr().out


def test_export_cli_reports_a_missing_model_cleanly(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--format", "torchscript"]) == 2
    assert "has no model.pt" in capsys.readouterr().err


def test_export_error_is_a_leanspeech_error():
    assert issubclass(ExportError, LeanspeechError)

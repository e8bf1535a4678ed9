"""Export a trained model for deployment: ONNX, TorchScript, or the streaming runtime; each one checked.

Every export runs the exported artefact on a second input of another batch size and length (the time
axis is dynamic) and compares it with PyTorch; a difference above `tolerance` is an ExportError, so a
file that was written is a file that computes the same thing. What is exported is `forward` (features →
output) of the deployable form of the model: dynamic-width layers are consolidated first (their eval
output is unchanged, see compress/consolidate.py). The front end stays outside: it is the same log-mel /
STFT for every model and most deployments compute it in their own DSP code.

- ONNX: the TorchScript-based exporter (`dynamo=False`, opset 17; the dynamo exporter needs onnxscript),
  checked in onnxruntime. An operator ONNX cannot express raises ExportError naming it.
- TorchScript: `torch.jit.trace`, checked on the second input (a trace that silently froze a shape fails).
- runtime: the numpy/numba streaming engines of this package, for enhancement hosts (`enhance_gru`) and
  CRNN VADs (runtime/streaming_vad.py), each with a GRU or D-GRU, saved as a versioned .npz — checked
  frame by frame against the model's forward.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

from leanspeech.errors import LeanspeechError

FORMATS = ("onnx", "torchscript", "runtime")
OPSET = 17
SUFFIXES = {"onnx": ".onnx", "torchscript": ".ts", "runtime": ".npz"}


class ExportError(LeanspeechError):
    """An export failed or its output differs from PyTorch; the message names the model and the cause."""


@dataclass
class ExportResult:
    path: Path
    format: str
    max_abs_error: float  # exported vs PyTorch on the check input
    file_bytes: int

    def to_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "format": self.format, "max_abs_error": self.max_abs_error,
                "file_bytes": self.file_bytes}


def deployable(model: nn.Module) -> nn.Module:
    """The model in eval mode with dynamic-width layers consolidated to plain layers (a copy if changed)."""
    from leanspeech.compress.consolidate import consolidate, live_widths

    return (consolidate(model) if live_widths(model) else model).eval()


def example_inputs(model: nn.Module, seconds: float = 1.0) -> tuple[Tensor, Tensor]:
    """(trace input: batch 1, `seconds`; check input: batch 2, a different length, other values)."""
    if not hasattr(model, "example_input"):
        raise ExportError(f"{type(model).__name__}: not a SpeechModel; give example inputs explicitly")
    traced = model.example_input(seconds, batch=1)
    other = model.example_input(seconds * 1.7, batch=2)
    return traced, other


def _compare(name: str, got: np.ndarray, expected: Tensor, tolerance: float) -> float:
    expected_np = expected.detach().numpy()
    if got.shape != expected_np.shape:
        raise ExportError(f"{name}: exported output has shape {got.shape}, PyTorch gives {expected_np.shape}")
    error = float(np.max(np.abs(got - expected_np))) if got.size else 0.0
    if not error <= tolerance:  # also catches NaN
        raise ExportError(f"{name}: exported output differs from PyTorch by {error:.3g} (tolerance {tolerance:g})")
    return error


def _unsupported_operator(err: Exception) -> str | None:
    text = str(err)
    found = re.search(r"operator '([\w:.]+)'", text) or re.search(r"(aten::\w+|prim::\w+)", text)
    return found.group(1) if found else None


def export_onnx(model: nn.Module, path: str | Path, inputs: tuple[Tensor, Tensor] | None = None,
                tolerance: float = 1e-4) -> ExportResult:
    """ONNX file of `forward`, dynamic batch and time axes, checked in onnxruntime."""
    import onnxruntime

    model = deployable(model)
    name = type(model).__name__
    traced, other = inputs or example_inputs(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        expected = model(other)
    if not isinstance(expected, Tensor):
        raise ExportError(f"{name}: forward returns {type(expected).__name__}; export needs a single tensor output")
    axes = {"features": {0: "batch", traced.dim() - 1: "frames"},
            "output": {axis: f"output_{axis}" for axis in range(expected.dim())}}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript-based exporter warns that it is deprecated
            torch.onnx.export(model, (traced,), str(path), input_names=["features"], output_names=["output"],
                              dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    except Exception as err:  # the exporter raises several types: UnsupportedOperatorError, SymbolicValueError ...
        operator = _unsupported_operator(err)
        what = f"operator {operator} cannot be expressed in ONNX opset {OPSET}" if operator else f"export failed ({err})"
        raise ExportError(f"{name}: {what}") from None
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (got,) = session.run(None, {"features": other.numpy()})
    except Exception as err:  # onnxruntime raises its own Fail/InvalidArgument types
        raise ExportError(f"{name}: the ONNX model fails in onnxruntime on an input of shape {tuple(other.shape)} "
                          f"(traced on {tuple(traced.shape)}): {str(err).splitlines()[0][:300]}") from None
    error = _compare(name, got, expected, tolerance)
    return ExportResult(path, "onnx", error, path.stat().st_size)


def export_torchscript(model: nn.Module, path: str | Path, inputs: tuple[Tensor, Tensor] | None = None,
                       tolerance: float = 1e-4) -> ExportResult:
    """A traced TorchScript file of `forward`, reloaded and checked on an input of another shape."""
    model = deployable(model)
    name = type(model).__name__
    traced, other = inputs or example_inputs(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit warns that it is deprecated
        expected = model(other)
        try:
            torch.jit.save(torch.jit.trace(model, traced, check_trace=False), str(path))
        except Exception as err:
            raise ExportError(f"{name}: TorchScript trace failed ({err})") from None
        got = torch.jit.load(str(path))(other)
    error = _compare(name, got.numpy(), expected, tolerance)
    return ExportResult(path, "torchscript", error, path.stat().st_size)


def export_runtime(model: nn.Module, path: str | Path, seconds: float = 1.0, tolerance: float = 1e-4) -> ExportResult:
    """The streaming runtime's .npz for an enhancement or VAD host, checked frame by frame against `forward`."""
    from leanspeech.runtime.streaming_enhancer import StreamingEnhancer
    from leanspeech.runtime.streaming_vad import StreamingVADNetwork

    model = deployable(model)
    name = type(model).__name__
    engine_type = StreamingVADNetwork if getattr(model, "task", None) == "vad" else StreamingEnhancer
    try:
        engine = engine_type.from_model(model)
    except TypeError as err:
        raise ExportError(f"{name}: no streaming runtime for this model ({err})") from None
    saved = engine.save(path)
    engine = engine_type.load(saved)
    wav = model.example_wav(seconds, batch=1)
    with torch.no_grad():
        features = model.features(wav)
        expected = model(features)[0]  # VAD: probabilities (frames,); enhancer: magnitude (bins, frames)
    if engine_type is StreamingVADNetwork:
        got = engine.run(features[0].numpy())
    else:
        frames = model.stft(wav)[0].numpy().T  # complex (frames, bins)
        got = np.stack([np.abs(engine.enhance_spectrum(frame)) for frame in frames], axis=1)
    error = _compare(name, got.astype(np.float32), expected, tolerance)
    return ExportResult(saved, "runtime", error, saved.stat().st_size)


EXPORTERS: dict[str, Callable[..., ExportResult]] = {
    "onnx": export_onnx, "torchscript": export_torchscript, "runtime": export_runtime,
}


def export_model(model: nn.Module, path: str | Path, fmt: str, tolerance: float = 1e-4) -> ExportResult:
    if fmt not in EXPORTERS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return EXPORTERS[fmt](model, path, tolerance=tolerance)

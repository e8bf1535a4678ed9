"""Export a trained model for deployment: ONNX, TorchScript, or the streaming runtime; each one checked.

Every export runs the exported artefact on a second input of another batch size and length (the time
axis is dynamic) and compares it with PyTorch; a difference above `tolerance` is an ExportError, so a
file that was written is a file that computes the same thing. What is exported is `forward` (features →
output) of the deployable form of the model: dynamic-width layers are consolidated first (their eval
output is unchanged, see compress/consolidate.py). The front end stays outside: it is the same log-mel /
STFT for every model and most deployments compute it in their own DSP code.

- ONNX, checked in onnxruntime: the TorchScript-based exporter (`dynamo=False`, opset 17: quick, and it
  writes GRUs as ONNX GRU nodes); an operator it cannot express raises ExportError naming it. Where its
  file fails on the second shape (it freezes the sequence length inside nn.MultiheadAttention, so the
  quality students' transformers did), the torch.export-based exporter (onnxscript, opset 18) writes the
  file again, traced with symbolic batch and time; if that fails too, the error gives both causes.
- TorchScript: `torch.jit.trace`, checked on the second input (a trace that silently froze a shape fails).
- runtime: the numpy/numba streaming engines of this package, for enhancement hosts (`enhance_gru`) and
  CRNN VADs (runtime/streaming_vad.py), each with a GRU or D-GRU, saved as a versioned .npz — checked
  frame by frame against the model's forward.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

from leanspeech.errors import LeanspeechError
from leanspeech.nn.attention import unfused_attention

FORMATS = ("onnx", "torchscript", "runtime")
OPSET = 17  # the TorchScript-based exporter's
DYNAMO_OPSET = 18  # the lowest the torch.export-based exporter writes
SUFFIXES = {"onnx": ".onnx", "torchscript": ".ts", "runtime": ".npz"}


class ExportError(LeanspeechError):
    """An export failed or its output differs from PyTorch; the message names the model and the cause."""


@dataclass
class ExportResult:
    path: Path
    format: str
    max_abs_error: float  # exported vs PyTorch on the check input
    file_bytes: int
    exporter: str = ""  # ONNX: "torchscript" or "dynamo", the exporter that wrote the file

    def to_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "format": self.format, "max_abs_error": self.max_abs_error,
                "file_bytes": self.file_bytes, **({"exporter": self.exporter} if self.exporter else {})}


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
    """Largest |got − expected|; an ExportError (prefixed with `name` when given) over `tolerance`."""
    expected_np = expected.detach().numpy()
    prefix = f"{name}: " if name else ""
    if got.shape != expected_np.shape:
        raise ExportError(f"{prefix}exported output has shape {got.shape}, PyTorch gives {expected_np.shape}")
    error = float(np.max(np.abs(got - expected_np))) if got.size else 0.0
    if not error <= tolerance:  # also catches NaN
        raise ExportError(f"{prefix}exported output differs from PyTorch by {error:.3g} (tolerance {tolerance:g})")
    return error


def _unsupported_operator(err: Exception) -> str | None:
    text = str(err)
    found = re.search(r"operator '([\w:.]+)'", text) or re.search(r"(aten::\w+|prim::\w+)", text)
    return found.group(1) if found else None


def export_onnx(model: nn.Module, path: str | Path, inputs: tuple[Tensor, Tensor] | None = None,
                tolerance: float = 1e-4) -> ExportResult:
    """ONNX file of `forward`, dynamic batch and time axes, checked in onnxruntime (see the module docstring
    for which exporter writes it)."""
    model = deployable(model)
    name = type(model).__name__
    traced, other = inputs or example_inputs(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        expected = model(other)
    if not isinstance(expected, Tensor):
        raise ExportError(f"{name}: forward returns {type(expected).__name__}; export needs a single tensor output")
    try:
        _write_onnx_torchscript(model, traced, path, expected.dim())
    except ExportError as err:
        raise ExportError(f"{name}: {err}") from None

    def checked(exporter: str) -> ExportResult:
        error = _compare("", _run_onnx(path, other, traced), expected, tolerance)
        return ExportResult(path, "onnx", error, path.stat().st_size, exporter)

    try:
        return checked("torchscript")
    except ExportError as frozen:  # a shape frozen in the graph: trace again with symbolic sizes
        try:
            _write_onnx_dynamo(model, traced, path)
            return checked("dynamo")
        except ExportError as err:
            raise ExportError(f"{name}: the TorchScript-based exporter's file fails ({frozen}), and the "
                              f"torch.export-based exporter too ({err})") from None


def _write_onnx_torchscript(model: nn.Module, traced: Tensor, path: Path, output_dims: int) -> None:
    axes = {"features": {0: "batch", traced.dim() - 1: "frames"},
            "output": {axis: f"output_{axis}" for axis in range(output_dims)}}
    try:
        with torch.no_grad(), warnings.catch_warnings(), unfused_attention():
            warnings.simplefilter("ignore")  # the TorchScript-based exporter warns that it is deprecated
            torch.onnx.export(model, (traced,), str(path), input_names=["features"], output_names=["output"],
                              dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    except Exception as err:  # the exporter raises several types: UnsupportedOperatorError, SymbolicValueError ...
        operator = _unsupported_operator(err)
        raise ExportError(f"operator {operator} cannot be expressed in ONNX opset {OPSET}" if operator
                          else f"export failed ({err})") from None


def _write_onnx_dynamo(model: nn.Module, traced: Tensor, path: Path) -> None:
    # torch.export specialises a size-1 example dimension to a constant: trace on a batch of two.
    example = torch.cat([traced, traced.flip(-1)]) if traced.shape[0] == 1 else traced
    dynamic = ({0: torch.export.Dim.DYNAMIC, traced.dim() - 1: torch.export.Dim.DYNAMIC},)
    registry_log = logging.getLogger("torch.onnx._internal.exporter._registration")  # "torchvision is not installed"
    level = registry_log.level
    try:
        registry_log.setLevel(logging.ERROR)
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example,), str(path), input_names=["features"], output_names=["output"],
                              dynamic_shapes=dynamic, opset_version=DYNAMO_OPSET, dynamo=True)
    except ImportError as err:
        raise ExportError(f"needs onnxscript ({err}); pip install onnxscript") from None
    except Exception as err:  # torch.export and the ONNX translation raise many types
        # Its message is a long report; the line naming the exception class says what went wrong.
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        summary = next((line for line in lines if line.startswith("<class")), lines[0] if lines else type(err).__name__)
        raise ExportError(f"export failed: {summary[:300]}") from None
    finally:
        registry_log.setLevel(level)


def _run_onnx(path: Path, features: Tensor, traced: Tensor) -> np.ndarray:
    import onnxruntime

    try:
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 4  # fatal only: a failure is raised here, with the shapes
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        (got,) = session.run(None, {"features": features.numpy()})
    except Exception as err:  # onnxruntime raises its own Fail/InvalidArgument types
        raise ExportError(f"the ONNX model fails in onnxruntime on an input of shape {tuple(features.shape)} "
                          f"(traced on {tuple(traced.shape)}): {str(err).splitlines()[0][:300]}") from None
    return got


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

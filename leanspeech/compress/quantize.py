"""Static post-training int8 quantization of weights and activations, for CPU inference.

Choice: PyTorch's FX graph-mode static PTQ (`torch.ao.quantization.quantize_fx`) with the x86 backend
(fbgemm + onednn kernels), per-channel int8 weights, uint8 activations from histogram observers.
Why not the successor, PT2E via torchao: a PT2E-converted model is a *reference* graph (quantize /
dequantize around float ops) that only becomes int8 kernels after `torch.compile` with inductor — a
C++ compile per model and shape, heavy on a small CPU box — and torchao is one more pin to keep in step
with torch. The FX flow runs real int8 kernels in eager mode, needs no change to the model (unlike
eager-mode PTQ, which wants QuantStubs and hand-fused modules), and still imports in torch 2.13; its
deprecation warnings are silenced here on purpose. If it is removed upstream, PT2E is the way out.

Calibration runs the model on the batches the caller gives (the paper used 20 % of the training set;
choosing them is the caller's job). Binary activation layers are kept float and untraced: around them
the graph dequantizes and requantizes, and their {0, 1} maps are exact in uint8 — so quantizing a BAM
model gives the paper's "BAM + 8-bit weights" combination (binary maps held in 8-bit tensors).
The quantized module computes `forward` (features → output) only, like the model it came from. A first
layer that oneDNN serves poorly (a 3×3 convolution of the one-channel spectrogram + ReLU + 2×2 max
pooling) is then handed to leanspeech's fused native kernel, with the same integers
(`runtime.int8_stem`; `fuse_stem=False` keeps PyTorch's kernels throughout).
"""

from __future__ import annotations

import contextlib
import copy
import io
import warnings
from typing import Iterable, Iterator

import torch
from torch import Tensor, nn
from torch.ao.quantization import MinMaxObserver, QConfig, QConfigMapping, get_default_qconfig_mapping
from torch.ao.quantization.fx.custom_config import PrepareCustomConfig
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

from leanspeech.nn.binary import BinaryActivation, BinaryActivationSTE, BinaryConv2d
from leanspeech.nn.dgru import DGRU
from leanspeech.runtime.int8_stem import fuse_int8_stems

BACKEND = "x86"
# Kept float and not traced: custom autograd (binary layers) or data-dependent steps (D-GRU).
FLOAT_ONLY = (BinaryActivation, BinaryActivationSTE, BinaryConv2d, DGRU)


@contextlib.contextmanager
def _quiet_deprecation() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.ao.quantization is deprecated.*")
        warnings.filterwarnings("ignore", message=".*reduce_range will be deprecated.*")
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*deprecated.*")
        yield


def qconfig_mapping(backend: str = BACKEND, observer: str = "histogram") -> QConfigMapping:
    """The backend's default mapping, binary layers left float. `observer="minmax"` swaps the histogram
    observers of activations for min/max ones: exact for {0, 1} maps and much faster to calibrate
    (the histogram search is slow on a two-valued distribution); histogram is better on real-valued maps."""
    if observer not in ("histogram", "minmax"):
        raise ValueError(f"observer must be 'histogram' or 'minmax', got {observer!r}")
    mapping = get_default_qconfig_mapping(backend)
    if observer == "minmax":
        default = mapping.global_qconfig
        minmax = QConfig(activation=MinMaxObserver.with_args(reduce_range=backend == "x86"), weight=default.weight)
        mapping.set_global(minmax)
        for key, config in list(mapping.object_type_qconfigs.items()):
            if config is default:
                mapping.set_object_type(key, minmax)
    for cls in FLOAT_ONLY:
        mapping.set_object_type(cls, None)
    return mapping


def quantize_static(
    model: nn.Module, calibration: Iterable[Tensor], backend: str = BACKEND, observer: str = "histogram",
    fuse_stem: bool = True,
) -> nn.Module:
    """An int8 copy of `model` (in eval mode) calibrated on the feature batches of `calibration`."""
    float_model = copy.deepcopy(model).eval()
    batches = iter(calibration)
    first = next(batches, None)
    if first is None:
        raise ValueError("quantize_static needs at least one calibration batch")
    mapping = qconfig_mapping(backend, observer)
    config = PrepareCustomConfig().set_non_traceable_module_classes(list(FLOAT_ONLY))
    torch.backends.quantized.engine = backend
    with _quiet_deprecation(), torch.no_grad():
        prepared = prepare_fx(float_model, mapping, (first,), prepare_custom_config=config)
        prepared(first)
        for batch in batches:
            prepared(batch)
        converted = convert_fx(prepared)
    if fuse_stem:
        fuse_int8_stems(converted)
    return converted


def serialized_bytes(module: nn.Module) -> int:
    """Size of the module's state_dict as torch.save writes it (its checkpoint size)."""
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.getbuffer().nbytes


class QuantizedSpeechModel(nn.Module):
    """An int8 network with the float model it came from, so it still takes audio: the float front end
    computes the features (`features`, `forward_wav`), the int8 graph computes `forward`. Its state is
    what it deploys (front end + int8 graph); the float model is kept beside it, unregistered, for the
    cost count (int8 keeps the MACs) and the front end."""

    quantized = True

    def __init__(self, float_model: nn.Module, network: nn.Module) -> None:
        super().__init__()
        object.__setattr__(self, "float_model", float_model.eval())  # not a submodule: not in the state
        self.frontend = getattr(float_model, "frontend", None)
        self.network = network
        self.sample_rate = getattr(float_model, "sample_rate", None)
        self.hop_length = getattr(float_model, "hop_length", None)

    def features(self, wav: Tensor) -> Tensor:
        return self.float_model.features(wav)

    def forward(self, features: Tensor) -> Tensor:
        return self.network(features)

    def forward_wav(self, wav: Tensor) -> Tensor:
        return self(self.features(wav))

    def example_wav(self, seconds: float = 4.0, batch: int = 1, seed: int = 0) -> Tensor:
        return self.float_model.example_wav(seconds, batch, seed)


def quantize_speech_model(model: nn.Module, calibration: Iterable[Tensor], observer: str = "histogram") -> QuantizedSpeechModel:
    """`quantize_static` of a SpeechModel's network, wrapped so it still takes audio."""
    return QuantizedSpeechModel(model, quantize_static(model, calibration, observer=observer))

"""`profile_model`: every cost figure of a model in one object (per layer, totals, per second, memory).

Time base: a clip model (hop_length None) is charged per input second, cost / seconds. A frame model
is charged ops per frame × frames per second, the frame cost measured exactly as the difference
between a pass on `seconds` of audio and a pass one hop longer (so edge frames do not leak in).
Activation memory per sample: Σ layer outputs × bits / 8 (see docs/profiler.md for which layers
write a feature map); inference memory adds the input and the weights at their own bit widths (integer
weights of quantized layers at theirs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor, nn
from torch.nn.parameter import is_lazy

from leanspeech.errors import LeanspeechError
from leanspeech.profile.costs import fft_convention
from leanspeech.profile.counter import COUNTED, CountResult, LayerRecord, count
from leanspeech.profile.params import ParameterCount, count_parameters

COST_FIELDS = ("macs", "flops", "binary_macs")


@dataclass
class ModelProfile:
    model: str
    layers: list[LayerRecord]
    complete: bool
    batch: int
    seconds: float | None  # audio per sample, None when the input is not audio of known length
    frame_model: bool
    params: ParameterCount
    effective_params: float  # parameters that compute (dynamic layers at their live width)
    macs: float  # per forward of one sample
    flops: float
    binary_macs: float
    activations: float  # per sample
    input_elements: int  # per sample
    bits: int
    input_bits: int
    weight_bits: int
    activation_bytes: float  # per sample
    memory_bytes: float  # per sample: input + activations + weights
    per_second: dict[str, float] | None  # macs / flops / binary_macs per second of audio
    layer_per_second: dict[str, dict[str, float]] = field(default_factory=dict)
    file_bytes: int | None = None
    fft: str = "fft"
    latency: dict[str, Any] | None = None

    @property
    def unknown(self) -> list[str]:
        return [r.name for r in self.layers if r.status == "unknown"]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["unknown"] = self.unknown
        return data


def _layer_totals(result: CountResult) -> dict[str, dict[str, float]]:
    return {r.name: {f: getattr(r, f) for f in COST_FIELDS} for r in result.layers if r.counts_cost}


def _layer_rates(
    model: nn.Module, result: CountResult, seconds: float | None, batch: int, hop: int | None
) -> dict[str, dict[str, float]]:
    """Per layer and second of audio: frame cost × frames per second, or cost / seconds for a clip."""
    if hop:
        # one hop more audio adds exactly one frame to every frame-rate layer
        longer = _count(model, None, model.example_wav(seconds + hop / model.sample_rate, batch))
        frames_per_second = model.sample_rate / hop
        before, after = _layer_totals(result), _layer_totals(longer)
        return {n: {f: (after[n][f] - v[f]) / batch * frames_per_second for f in COST_FIELDS} for n, v in before.items()}
    if seconds:
        return {n: {f: v / batch / seconds for f, v in c.items()} for n, c in _layer_totals(result).items()}
    return {}


def _run(model: nn.Module, inputs: tuple[Any, ...] | None, wav: Tensor | None) -> Callable[[], Any]:
    if inputs is not None:
        return lambda: model(*inputs)
    return lambda: model.forward_wav(wav)  # type: ignore[operator]


def _count(model: nn.Module, inputs: tuple[Any, ...] | None, wav: Tensor | None) -> CountResult:
    shapes = [tuple(x.shape) for x in (inputs if inputs is not None else (wav,)) if isinstance(x, Tensor)]
    run = _run(model, inputs, wav)
    try:
        if any(is_lazy(p) for p in model.parameters()):
            with torch.no_grad():  # lazy layers take their shapes (and their final class) from a first forward
                run()
        return count(model, run)
    except LeanspeechError:
        raise
    except Exception as err:
        raise LeanspeechError(
            f"profiling {type(model).__name__} on input of shape {', '.join(map(str, shapes))} failed: "
            f"{type(err).__name__}: {err}"
        ) from err


def profile_model(
    model: nn.Module,
    inputs: Tensor | tuple[Any, ...] | None = None,
    *,
    seconds: float | None = None,
    batch: int = 1,
    bits: int = 32,
    input_bits: int = 32,
    weight_bits: int = 32,
    fft: str = "fft",
    name: str | None = None,
) -> ModelProfile:
    """Profile one forward. A SpeechModel without `inputs` runs `forward_wav` on `seconds` (default 4)
    of noise, front-end included; otherwise `model(*inputs)` runs (give `seconds` for per-second rates)."""
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    # SpeechModel's contract, checked by duck typing: the profiler must not import the model package
    # (its layers import the profiler's rule registry).
    speech = inputs is None and hasattr(model, "forward_wav") and hasattr(model, "example_wav")
    if inputs is None and not speech:
        raise LeanspeechError(f"{type(model).__name__} is not a SpeechModel: give an example input to profile it")
    if speech:
        seconds = 4.0 if seconds is None else seconds
    wav = model.example_wav(seconds, batch) if speech else None
    if inputs is not None:
        first = next((x for x in inputs if isinstance(x, Tensor)), None)
        batch = first.shape[0] if first is not None and first.dim() > 1 else 1
    was_training = model.training
    model.eval()
    try:
        with fft_convention(fft):
            result = _count(model, inputs, wav)
            hop = getattr(model, "hop_length", None) if speech else None
            layer_rates = _layer_rates(model, result, seconds, batch, hop)
    finally:
        model.train(was_training)

    per_second = {f: sum(r[f] for r in layer_rates.values()) for f in COST_FIELDS} if layer_rates else None
    params = count_parameters(model)
    effective = params.dense - sum(
        r.params - r.effective_params for r in result.layers if r.status == COUNTED and r.effective_params is not None
    )
    input_elements = (wav.numel() if wav is not None else sum(x.numel() for x in inputs if isinstance(x, Tensor))) // batch
    activation_bits = sum(r.activations * (r.activation_bits or bits) for r in result.layers if r.counts_cost)
    activation_bytes = activation_bits / 8 / batch
    memory = activation_bytes + input_elements * input_bits / 8 + params.storage_bits(weight_bits) / 8
    return ModelProfile(
        model=name or getattr(model, "registry_name", "") or type(model).__name__,
        layers=result.layers,
        complete=result.complete,
        batch=batch,
        seconds=seconds,
        frame_model=bool(hop),
        params=params,
        effective_params=float(effective),
        macs=result.total("macs") / batch,
        flops=result.total("flops") / batch,
        binary_macs=result.total("binary_macs") / batch,
        activations=result.total("activations") / batch,
        input_elements=input_elements,
        bits=bits,
        input_bits=input_bits,
        weight_bits=weight_bits,
        activation_bytes=activation_bytes,
        memory_bytes=memory,
        per_second=per_second,
        layer_per_second=layer_rates,
        fft=fft,
    )

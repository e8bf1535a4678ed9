"""Speech enhancement of files and arrays, offline (PyTorch) or streaming (the fused batch-1 runtime).

`enhance_file("noisy.wav", "clean.wav")` uses the bundled default model (the enhancement study's
small GRU host) unless given another (`model=` a model.pt, a run folder, or a loaded model).
Stereo is mixed down and other sample rates are resampled to the model's rate and back (notes say
so); clipping input is processed with a warning; audio shorter than one STFT frame is an error that
names the file. `update_percent` runs the GRU layers as D-GRU at that P (dgru-speech-enhancement.md).

Streaming: `load_streaming_enhancer()` gives a `StreamingEnhancer` whose `enhance_hop(160 samples)`
returns 160 samples, `n_fft - hop_length` samples late; `enhance_streaming` runs a whole array through
it and removes that delay, so its output lines up with the offline one. `weights="fp16"` or `"int8"`
stores the runtime's weights in fewer bytes (fp32 arithmetic; runtime/weight_formats.py);
`activations="int8"` with int8 weights runs the GRU layers in 8-bit integer arithmetic, the fastest
mode (runtime/w8a8_kernel.py).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from leanspeech.audio.io import check_waveform, load_audio, save_audio
from leanspeech.audio.resample import resample, pad_or_cut
from leanspeech.bundled import bundled_model
from leanspeech.errors import AudioError, LeanspeechError
from leanspeech.models.base import SpeechModel
from leanspeech.models.io import load_model
from leanspeech.registry import MODELS
from leanspeech.runtime import WEIGHT_FORMATS, StreamingEnhancer
from leanspeech.runtime.weight_formats import ACTIVATION_FORMATS

DEFAULT_MODEL = bundled_model("enhance")
CLIP_LEVEL = 0.999  # |sample| at or above this counts as clipped (full scale after float conversion)
CLIPPED_SHARE = 1e-3  # warn from 0.1 % of the samples at full scale: a lone full-scale peak is not clipping


class ClippingWarning(UserWarning):
    """The input reaches full scale: enhancement runs, but clipping distortion is not undone."""


@dataclass
class EnhanceResult:
    audio: np.ndarray  # mono float32 at `sample_rate`, as long as the input
    sample_rate: int
    notes: list[str] = field(default_factory=list)  # what was changed on the way (mixdown, resampling)
    warnings: list[str] = field(default_factory=list)  # problems of the input that were processed anyway


def load_enhance_model(model: str | Path | SpeechModel | None = None) -> SpeechModel:
    """An enhancement model: None = the bundled default, a model file, a run folder (its model.pt),
    or a loaded model (returned in eval mode)."""
    if isinstance(model, torch.nn.Module):
        return model.eval()
    path = DEFAULT_MODEL if model is None else Path(model)
    if path.is_dir():
        path = path / "model.pt"
        if not path.is_file():
            raise LeanspeechError(f"{path.parent}: folder holds no model.pt")
    loaded = load_model(path)
    if getattr(loaded, "task", "") != "enhance" or not hasattr(loaded, "enhance"):
        raise LeanspeechError(f"{path}: not a speech-enhancement model (task {getattr(loaded, 'task', '')!r})")
    return loaded


def with_update_percent(model: SpeechModel, update_percent: float) -> SpeechModel:
    """The same host with every GRU run as a D-GRU at P = `update_percent` (same weights, no retraining)."""
    config = model.get_config()
    if "rnn" not in config or config["rnn"].lower() not in ("gru", "dgru"):
        raise LeanspeechError(f"{model.registry_name}: --update-percent needs a host whose recurrent layers are GRUs")
    options = {**(config.get("rnn_options") or {}), "update_percent": float(update_percent)}
    converted = MODELS.build(model.registry_name, **{**config, "rnn": "dgru", "rnn_options": options})
    converted.load_state_dict(model.state_dict())
    return converted.eval()


def min_samples(model: SpeechModel) -> int:
    """The shortest input: one STFT frame of the model."""
    return int(model.stft.n_fft)


def clipped_fraction(wav: np.ndarray) -> float:
    return float(np.mean(np.abs(wav) >= CLIP_LEVEL))


def prepare_audio(wav: np.ndarray, sample_rate: int, model: SpeechModel, name: str) -> tuple[np.ndarray, EnhanceResult]:
    """Mono float32 at the model's rate, checked, and an (empty-audio) result carrying the notes."""
    result = EnhanceResult(np.zeros(0, np.float32), sample_rate)
    wav = check_waveform(np.asarray(wav, dtype=np.float32), name)
    if (share := clipped_fraction(wav)) >= CLIPPED_SHARE:  # before the mixdown, which could hide one clipped channel
        message = (f"{name}: {100 * share:.2f} % of the samples are at full scale (clipped input); "
                   "enhanced anyway, but the clipping distortion is not removed")
        result.warnings.append(message)
        warnings.warn(message, ClippingWarning, stacklevel=3)
    if wav.ndim == 2:  # (channels, samples), as load_audio(mono=False) gives
        if wav.shape[0] > 1:
            result.notes.append(f"{name}: mixed {wav.shape[0]} channels down to mono")
        wav = wav.mean(axis=0)
    if sample_rate != model.sample_rate:
        wav = resample(wav, sample_rate, model.sample_rate)
        result.notes.append(f"{name}: resampled from {sample_rate} Hz to the model's {model.sample_rate} Hz and back")
    needed = min_samples(model)
    if len(wav) < needed:
        raise AudioError(name, f"{len(wav)} samples ({1000 * len(wav) / model.sample_rate:.1f} ms at "
                               f"{model.sample_rate} Hz) is shorter than one frame of the model, {needed} samples "
                               f"({1000 * needed / model.sample_rate:.0f} ms)")
    return wav, result


@torch.no_grad()
def enhance_offline(model: SpeechModel, wav: np.ndarray) -> np.ndarray:
    """A mono waveform at the model's rate, enhanced in one pass."""
    return model.eval().enhance(torch.from_numpy(np.ascontiguousarray(wav))[None])[0].numpy()


def load_streaming_enhancer(
    model: str | Path | SpeechModel | None = None, update_percent: float | None = None, weights: str = "fp32",
    activations: str = "fp32",
) -> StreamingEnhancer:
    """The batch-1 streaming runtime of an enhance_gru model (default: the bundled one), its weights
    stored as `weights` ("fp32", "fp16", "int8"), its GRU activations as `activations` ("fp32", "int8")."""
    return StreamingEnhancer.from_model(load_enhance_model(model), update_percent, weights=weights,
                                        activations=activations)


def enhance_streaming(enhancer: StreamingEnhancer, wav: np.ndarray) -> np.ndarray:
    """Run `wav` hop by hop through a fresh state; the runtime's delay is removed, so the output is
    aligned with the input and as long as it."""
    hop, delay = enhancer.hop_length, enhancer.n_fft - enhancer.hop_length
    padded = np.pad(np.asarray(wav, np.float32), (0, delay + (-(len(wav) + delay) % hop)))
    enhancer.reset()
    out = np.concatenate([enhancer.enhance_hop(chunk) for chunk in padded.reshape(-1, hop)])
    return out[delay : delay + len(wav)]


def enhance_audio(
    wav: np.ndarray,
    sample_rate: int,
    model: str | Path | SpeechModel | None = None,
    streaming: bool = False,
    update_percent: float | None = None,
    name: str = "audio",
    weights: str = "fp32",
    activations: str = "fp32",
) -> EnhanceResult:
    """Enhance a (T,) or (C, T) array; the result is mono at the input's rate. `weights` and
    `activations` (the streaming runtime's number formats) need `streaming`."""
    model = load_enhance_model(model)
    if update_percent is not None and not 0 < update_percent <= 100:
        raise LeanspeechError(f"update percent must be in (0, 100], got {update_percent}")
    if weights not in WEIGHT_FORMATS:
        raise LeanspeechError(f"unknown weight format {weights!r}; choose one of {', '.join(WEIGHT_FORMATS)}")
    if activations not in ACTIVATION_FORMATS:
        raise LeanspeechError(f"unknown activation format {activations!r}; choose one of {', '.join(ACTIVATION_FORMATS)}")
    if activations == "int8" and weights != "int8":
        raise LeanspeechError("8-bit activations need int8 weights: add --weights int8")
    if (weights, activations) != ("fp32", "fp32") and not streaming:
        raise LeanspeechError(f"weights {weights!r} / activations {activations!r} are streaming-runtime formats: "
                              "add --streaming")
    audio, result = prepare_audio(wav, sample_rate, model, name)
    if streaming:
        try:
            enhancer = StreamingEnhancer.from_model(model, update_percent, weights=weights, activations=activations)
        except TypeError as err:  # a host the streaming runtime does not implement
            raise LeanspeechError(f"--streaming: {err}") from None
        enhanced = enhance_streaming(enhancer, audio)
    else:
        enhanced = enhance_offline(with_update_percent(model, update_percent) if update_percent else model, audio)
    if sample_rate != model.sample_rate:
        enhanced = pad_or_cut(resample(enhanced, model.sample_rate, sample_rate), np.asarray(wav).shape[-1])
    result.audio = enhanced.astype(np.float32)
    return result


def enhance_file(
    source: str | Path,
    target: str | Path,
    model: str | Path | SpeechModel | None = None,
    streaming: bool = False,
    update_percent: float | None = None,
    weights: str = "fp32",
    activations: str = "fp32",
) -> EnhanceResult:
    """Enhance an audio file into `target` (format from its suffix), at the input's sample rate."""
    wav, rate = load_audio(source, mono=False)
    result = enhance_audio(wav, rate, model, streaming, update_percent, name=str(source), weights=weights,
                           activations=activations)
    if (peak := float(np.abs(result.audio).max())) > 1.0:
        result.notes.append(f"{target}: output peaked at {peak:.3f} and was clipped to full scale")
        result.audio = np.clip(result.audio, -1.0, 1.0)
    save_audio(target, result.audio, rate)
    return result

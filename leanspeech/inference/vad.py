"""Voice activity detection on files and arrays: frame probabilities and speech segments.

`detect_speech("talk.wav")` loads the bundled default model (the VAD study's best consolidated
model) unless given another (`model=` a model.pt, a study run folder, or a loaded model). Stereo is
mixed down, other sample rates are resampled (a note says so), silence gives no segments, and audio
shorter than one FFT window of the model is an error that names the file. `streaming=True` computes
the probabilities with the batch-1 streaming runtime (runtime.StreamingVADNetwork: the front end in
PyTorch, then the network frame by frame), its weights stored as `weights` ("fp32", "fp16", "int8"):
fp32 gives the offline probabilities to within 1e-5, the smaller formats what a device would compute.
Frame t of a model with hop h covers [t·h, (t+1)·h) samples; a segment runs from its first speech
frame's start to its last speech frame's end (clipped to the audio's duration).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from leanspeech.audio.io import check_waveform, load_audio
from leanspeech.audio.resample import resample
from leanspeech.bundled import bundled_model
from leanspeech.errors import AudioError, LeanspeechError
from leanspeech.models.base import SpeechModel
from leanspeech.models.io import load_model
from leanspeech.runtime.weight_formats import WEIGHT_FORMATS

DEFAULT_MODEL = bundled_model("vad")
# A study run folder holds both; the consolidated one computes less for the same output.
RUN_FILES = ("consolidated.pt", "model.pt")


@dataclass(frozen=True)
class Segment:
    start: float  # seconds
    end: float


@dataclass
class VadResult:
    probabilities: np.ndarray  # one speech probability per frame
    frame_seconds: float  # hop between frames
    segments: list[Segment]
    duration: float  # seconds of (resampled) audio
    notes: list[str] = field(default_factory=list)

    def write_csv(self, path: str | Path) -> Path:
        """frame, start time (s), probability: one row per frame."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["frame", "time_s", "probability"])
            for i, p in enumerate(self.probabilities):
                writer.writerow([i, f"{i * self.frame_seconds:.4f}", f"{p:.6f}"])
        return path


def load_vad_model(model: str | Path | SpeechModel | None = None) -> SpeechModel:
    """A VAD model: None = the bundled default, a model file, a run folder, or a model (returned as is)."""
    if isinstance(model, torch.nn.Module):
        return model.eval()
    path = DEFAULT_MODEL if model is None else Path(model)
    if path.is_dir():
        found = next((path / name for name in RUN_FILES if (path / name).is_file()), None)
        if found is None:
            raise LeanspeechError(f"{path}: folder holds no {' or '.join(RUN_FILES)}")
        path = found
    loaded = load_model(path)
    if getattr(loaded, "task", "") != "vad" or not getattr(loaded, "hop_length", None):
        raise LeanspeechError(f"{path}: not a frame-level VAD model (task {getattr(loaded, 'task', '')!r})")
    return loaded


def min_samples(model: SpeechModel) -> int:
    """The shortest input the model accepts: one FFT window of its front end."""
    return int(model.frontend.spectrogram.n_fft)


def prepare_audio(wav: np.ndarray, sample_rate: int, model: SpeechModel, name: str) -> tuple[np.ndarray, list[str]]:
    """Mono float32 at the model's rate, checked; notes say what was changed."""
    notes = []
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim == 2:  # (channels, samples), as load_audio(mono=False) gives
        if wav.shape[0] > 1:
            notes.append(f"{name}: mixed {wav.shape[0]} channels down to mono")
        wav = wav.mean(axis=0)
    if sample_rate != model.sample_rate:
        wav = resample(wav, sample_rate, model.sample_rate)
        notes.append(f"{name}: resampled from {sample_rate} Hz to the model's {model.sample_rate} Hz")
    needed = min_samples(model)
    if len(wav) < needed:
        raise AudioError(name, f"{len(wav)} samples ({1000 * len(wav) / model.sample_rate:.0f} ms at "
                               f"{model.sample_rate} Hz) is shorter than the model's context of {needed} samples "
                               f"({1000 * needed / model.sample_rate:.0f} ms)")
    return check_waveform(wav, name), notes


@torch.no_grad()
def speech_probabilities(model: SpeechModel, wav: np.ndarray) -> np.ndarray:
    """Frame probabilities of a mono waveform already at the model's rate."""
    return model.eval().forward_wav(torch.from_numpy(np.ascontiguousarray(wav))[None])[0].numpy()


@torch.no_grad()
def streaming_probabilities(model: SpeechModel, wav: np.ndarray, weights: str = "fp32") -> np.ndarray:
    """Frame probabilities of a mono waveform at the model's rate from the streaming runtime."""
    from leanspeech.runtime.streaming_vad import StreamingVADNetwork  # its kernels load numba: only when asked

    try:
        network = StreamingVADNetwork.from_model(model.eval(), weights=weights)
    except TypeError as err:  # a host the streaming runtime does not implement
        raise LeanspeechError(f"--streaming: {err}") from None
    features = model.features(torch.from_numpy(np.ascontiguousarray(wav))[None])[0].numpy()
    return network.run(features)


def speech_segments(
    probabilities: np.ndarray,
    frame_seconds: float,
    duration: float,
    threshold: float = 0.5,
    min_speech_seconds: float = 0.25,
    min_silence_seconds: float = 0.1,
) -> list[Segment]:
    """Runs of frames ≥ threshold; gaps shorter than `min_silence_seconds` are bridged, then segments
    shorter than `min_speech_seconds` dropped."""
    active = np.concatenate([[False], np.asarray(probabilities) >= threshold, [False]])
    edges = np.flatnonzero(np.diff(active.astype(np.int8)))
    runs = [[start * frame_seconds, min(end * frame_seconds, duration)] for start, end in zip(edges[::2], edges[1::2])]
    merged: list[list[float]] = []
    for run in runs:
        if merged and run[0] - merged[-1][1] < min_silence_seconds:
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    return [Segment(round(s, 4), round(e, 4)) for s, e in merged if e - s >= min_speech_seconds]


def detect_speech(
    audio: str | Path | np.ndarray,
    sample_rate: int | None = None,
    model: str | Path | SpeechModel | None = None,
    threshold: float = 0.5,
    min_speech_seconds: float = 0.25,
    min_silence_seconds: float = 0.1,
    streaming: bool = False,
    weights: str = "fp32",
) -> VadResult:
    """Speech segments and frame probabilities of a file (any rate, any channel count) or an array
    ((samples,) or (channels, samples) at `sample_rate`); `weights` (a streaming-runtime format) needs
    `streaming`."""
    if weights not in WEIGHT_FORMATS:
        raise LeanspeechError(f"unknown weight format {weights!r}; choose one of {', '.join(WEIGHT_FORMATS)}")
    if weights != "fp32" and not streaming:
        raise LeanspeechError(f"weights {weights!r} is a streaming-runtime format: add --streaming")
    vad = load_vad_model(model)
    if isinstance(audio, (str, Path)):
        name = str(audio)
        wav, rate = load_audio(audio, mono=False)
    else:
        if sample_rate is None:
            raise LeanspeechError("detect_speech: give sample_rate with an array")
        name, wav, rate = "<array>", audio, sample_rate
    wav, notes = prepare_audio(wav, rate, vad, name)
    probabilities = streaming_probabilities(vad, wav, weights) if streaming else speech_probabilities(vad, wav)
    frame_seconds = vad.hop_length / vad.sample_rate
    duration = len(wav) / vad.sample_rate
    segments = speech_segments(probabilities, frame_seconds, duration, threshold, min_speech_seconds, min_silence_seconds)
    return VadResult(probabilities, frame_seconds, segments, duration, notes)

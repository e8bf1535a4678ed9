"""Re-synthesis attacks: a recorded utterance analysed and rebuilt by a vocoder, each leaving its own
artefacts (Griffin-Lim phase, LPC buzz-and-hiss excitation, phase-vocoder phasiness).

Each is a pure function `(wav, rate, rng, **parameters) -> wav` at the input's rate. The parameters
are drawn when the corpus is planned (`draw_parameters`), so the manifest records them without
re-running a finished file.
"""

from __future__ import annotations

from typing import Callable

import librosa
import numpy as np
from scipy.signal import lfilter

Vocoder = Callable[..., np.ndarray]


def _fft_size(rate: int, seconds: float) -> int:
    return int(2 ** round(np.log2(seconds * rate)))


def griffin_lim(wav: np.ndarray, rate: int, rng: np.random.Generator, n_mels: int, iterations: int) -> np.ndarray:
    """Mel spectrogram -> linear magnitude (NNLS, librosa) -> Griffin-Lim phase: what a neural TTS
    acoustic model hands a classic vocoder."""
    n_fft = _fft_size(rate, 0.064)
    hop = n_fft // 4
    mel = librosa.feature.melspectrogram(y=wav, sr=rate, n_fft=n_fft, hop_length=hop, n_mels=n_mels, fmax=rate / 2)
    magnitude = librosa.feature.inverse.mel_to_stft(mel, sr=rate, n_fft=n_fft, fmax=rate / 2)
    out = librosa.griffinlim(magnitude, n_iter=iterations, hop_length=hop, n_fft=n_fft, length=len(wav),
                             random_state=int(rng.integers(2**31)))
    return out.astype(np.float32)


def _voicing(frame: np.ndarray, rate: int, threshold: float = 0.4) -> int:
    """Pitch period in samples from the normalised autocorrelation peak in 60-400 Hz, 0 if unvoiced."""
    frame = frame - frame.mean()
    corr = np.correlate(frame, frame, "full")[len(frame) - 1:]
    if corr[0] <= 0:
        return 0
    low, high = rate // 400, min(rate // 60, len(frame) - 1)
    lag = low + int(np.argmax(corr[low:high]))
    return lag if corr[lag] / corr[0] > threshold else 0


def lpc_vocoder(wav: np.ndarray, rate: int, rng: np.random.Generator, order: int) -> np.ndarray:
    """LPC-10 style: per 10 ms an all-pole envelope (librosa.lpc) driven by a pulse train at the
    detected pitch (voiced) or white noise (unvoiced), with the prediction error's power as gain."""
    hop, win = rate // 100, int(0.03 * rate)
    padded = np.pad(wav.astype(np.float64), (win // 2, win))
    window = np.hanning(win)
    out = np.zeros(len(wav))
    state = np.zeros(order)
    next_pulse = 0
    for start in range(0, len(wav), hop):
        frame = padded[start:start + win] * window
        if not np.any(frame):
            state[:] = 0
            continue
        try:
            a = librosa.lpc(frame + 1e-9 * rng.standard_normal(win), order=order)
        except FloatingPointError:  # an ill-conditioned (near-silent) frame: leave it silent
            state[:] = 0
            continue
        gain = np.sqrt(np.mean(lfilter(a, [1.0], frame) ** 2))
        period = _voicing(frame, rate)
        if period:
            excitation = np.zeros(hop)
            pulses = np.arange(next_pulse, hop, period)
            excitation[pulses] = np.sqrt(period)  # unit power over a period
            next_pulse = (pulses[-1] + period - hop) if len(pulses) else next_pulse - hop
        else:
            excitation, next_pulse = rng.standard_normal(hop), 0
        segment, state = lfilter([gain], a, excitation, zi=state)
        end = min(start + hop, len(wav))
        out[start:end] = segment[:end - start]
    return out.astype(np.float32)


def phase_vocoder(wav: np.ndarray, rate: int, rng: np.random.Generator, semitones: float) -> np.ndarray:
    """Pitch shift (phase-vocoder time stretch + resampling, librosa): a crude voice conversion towards
    another speaker's pitch, with the vocoder's phasiness."""
    return librosa.effects.pitch_shift(wav.astype(np.float32), sr=rate, n_steps=semitones).astype(np.float32)


VOCODERS: dict[str, Vocoder] = {"griffin-lim": griffin_lim, "lpc": lpc_vocoder, "phase-vocoder": phase_vocoder}


def draw_parameters(vocoder: str, rng: np.random.Generator) -> dict[str, int | float]:
    """Random settings of one re-synthesis (a spread of attack strengths, not one fixed artefact)."""
    if vocoder == "griffin-lim":  # mel resolution and phase iterations
        return {"n_mels": int(rng.integers(32, 57)), "iterations": int(rng.integers(16, 49))}
    if vocoder == "lpc":  # order for 8 kHz input: 8 is buzzy, 14 close to transparent envelopes
        return {"order": int(rng.integers(8, 15))}
    if vocoder == "phase-vocoder":  # 1.5-4 semitones up or down
        return {"semitones": round(float(rng.uniform(1.5, 4.0) * rng.choice([-1, 1])), 2)}
    raise ValueError(f"unknown vocoder {vocoder!r}; known: {', '.join(VOCODERS)}")

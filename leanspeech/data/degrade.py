"""Pure degradation functions on float32 waveforms: RIR analysis, noise at an SNR, band limits, μ-law.

Each takes and returns numpy arrays; `Mixer` (mixing.py) draws their parameters and chains them.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal

from leanspeech.audio.resample import resample


def power(wav: np.ndarray) -> float:
    return float(np.mean(np.square(wav, dtype=np.float64)))


def direct_path_index(rir: np.ndarray) -> int:
    return int(np.argmax(np.abs(rir)))


def normalize_rir(rir: np.ndarray) -> np.ndarray:
    """Unit energy, so that reverberation keeps the speech level roughly unchanged."""
    rir = np.asarray(rir, dtype=np.float32)
    norm = float(np.sqrt(np.sum(np.square(rir, dtype=np.float64))))
    if norm == 0.0:
        raise ValueError("room impulse response is all zeros")
    return rir / np.float32(norm)


def schroeder_rt60(rir: np.ndarray, sample_rate: int, decay_db: tuple[float, float] = (-5.0, -25.0)) -> float:
    """RT60 from the Schroeder backward-integrated energy decay, fitted between `decay_db` (T20)
    and extrapolated to 60 dB. Used for RIRs whose manifest row gives no `rt60`."""
    energy = np.square(np.asarray(rir, dtype=np.float64)[direct_path_index(rir):])
    edc = np.cumsum(energy[::-1])[::-1]
    edc_db = 10.0 * np.log10(np.maximum(edc / edc[0], 1e-30))
    upper, lower = decay_db
    fit = (edc_db <= upper) & (edc_db >= lower)
    if fit.sum() < 2:
        raise ValueError(f"the energy decay never spans {upper} to {lower} dB; RT60 cannot be estimated")
    times = np.flatnonzero(fit) / sample_rate
    slope, _ = np.polyfit(times, edc_db[fit], 1)  # dB per second, negative
    return float(-60.0 / slope)


def noise_segment(noise: np.ndarray, length: int, start: int) -> np.ndarray:
    """`length` samples of `noise` from `start`, looping over its end as often as needed."""
    start %= len(noise)
    if start + length <= len(noise):
        return noise[start:start + length]
    reps = -(-(start + length) // len(noise))
    return np.tile(noise, reps)[start:start + length]


def scale_noise_to_snr(speech_power: float, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Noise scaled so that 10·log10(speech_power / noise power) = snr_db (silent noise stays silent)."""
    noise_power = power(noise)
    if noise_power == 0.0:
        return noise
    return noise * np.float32(np.sqrt(speech_power / (noise_power * 10.0 ** (snr_db / 10.0))))


def lowpass_sos(cutoff_hz: float, sample_rate: int, order: int = 8) -> np.ndarray:
    """Butterworth low-pass in second-order sections; design once, apply with `apply_sos`."""
    return scipy.signal.butter(order, cutoff_hz, btype="lowpass", fs=sample_rate, output="sos")


def bandpass_sos(band_hz: tuple[float, float], sample_rate: int, order: int = 4) -> np.ndarray:
    return scipy.signal.butter(order, list(band_hz), btype="bandpass", fs=sample_rate, output="sos")


def apply_sos(wav: np.ndarray, sos: np.ndarray) -> np.ndarray:
    return scipy.signal.sosfilt(sos, wav).astype(np.float32, copy=False)


def mu_law_encode(wav: np.ndarray, bits: int = 8) -> np.ndarray:
    """G.711-style μ-law companding of [-1, 1] audio to integer codes 0 … 2**bits − 1 (computed in
    the input's precision: float32 audio costs half the time of float64)."""
    mu = 2**bits - 1
    x = np.clip(wav, -1.0, 1.0)
    companded = np.sign(x) * np.log1p(mu * np.abs(x)) / math.log1p(mu)
    return np.rint((companded + 1.0) / 2.0 * mu).astype(np.int32)


def mu_law_decode(codes: np.ndarray, bits: int = 8) -> np.ndarray:
    mu = 2**bits - 1
    companded = 2.0 * codes.astype(np.float32) / mu - 1.0
    return (np.sign(companded) * np.expm1(np.abs(companded) * math.log1p(mu)) / mu).astype(np.float32)


def telephone(wav: np.ndarray, sample_rate: int, band_sos: np.ndarray, phone_rate: int = 8000,
              bits: int = 8) -> np.ndarray:
    """Narrow-band telephone channel: resample to `phone_rate`, band-pass (`band_sos`, designed at
    `phone_rate`), μ-law quantise to `bits`, resample back. Output has the input's length."""
    narrow = apply_sos(resample(wav, sample_rate, phone_rate, quality="MQ"), band_sos)
    coded = mu_law_decode(mu_law_encode(narrow, bits), bits)
    back = resample(coded, phone_rate, sample_rate, quality="MQ")
    out = np.zeros_like(wav)
    n = min(len(out), len(back))
    out[:n] = back[:n]
    return out

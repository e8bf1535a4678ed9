"""Pure degradation functions on float32 waveforms: RIR analysis, noise at an SNR, band limits, μ-law, GSM.

Each takes and returns numpy arrays; `Mixer` (mixing.py) draws their parameters and chains them.
"""

from __future__ import annotations

import io
import math

import numpy as np
import scipy.signal
import soundfile as sf

from leanspeech.audio.resample import resample, pad_or_cut


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


def estimate_rt60(rir: np.ndarray, sample_rate: int) -> float:
    """RT60 by Schroeder backward integration over a 30 dB decay (pyroomacoustics), for RIRs whose
    manifest row gives no `rt60`."""
    from pyroomacoustics.experimental import measure_rt60  # seconds to import: only when needed

    rir = np.asarray(rir, dtype=np.float64)
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            rt60 = float(measure_rt60(rir, fs=sample_rate, decay_db=30))
    except IndexError:  # no energy at all
        rt60 = float("nan")
    if not np.isfinite(rt60) or rt60 <= 0:
        raise ValueError("the impulse response has no energy decay: RT60 cannot be estimated")
    return rt60


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


def soundfile_round_trip(wav: np.ndarray, rate: int, fmt: str, subtype: str, **options) -> np.ndarray:
    """Encode with libsndfile (soundfile) in memory and decode again, float32; a codec's frames may make it
    a little longer."""
    buffer = io.BytesIO()
    sf.write(buffer, wav, rate, format=fmt, subtype=subtype, **options)
    buffer.seek(0)
    return sf.read(buffer, dtype="float32")[0]


def gsm_610(wav: np.ndarray, sample_rate: int, phone_rate: int = 8000) -> np.ndarray:
    """GSM 06.10 full-rate coding (libsndfile, in memory): resample to 8 kHz, encode, decode, resample
    back. Output has the input's length."""
    coded = soundfile_round_trip(resample(wav, sample_rate, phone_rate, quality="MQ"), phone_rate, "WAV", "GSM610")
    return pad_or_cut(resample(coded, phone_rate, sample_rate, quality="MQ"), len(wav)).astype(np.float32)

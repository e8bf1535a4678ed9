"""The common channel every file of the spoofing corpus goes through, bona fide and spoof alike.

Recorded prompts arrive at 8 kHz (some GSM-coded), TTS at 16-32 kHz, vocoders at the prompt's rate:
left alone, bandwidth, codec, level, leading silence and noise floor would each tell the classes apart.
So every file is resampled to the lowest rate (8 kHz), trimmed of leading and trailing silence, band-passed
to the telephone band, GSM 06.10 coded (the codec two bona fide speakers already carry; coding them again
costs little, leaving the others uncoded would make "GSM" mean "bona fide"), resampled to the corpus
rate, set to one active speech level, given one white noise floor and dithered to 16 bits.
"""

from __future__ import annotations

import io
import subprocess
from dataclasses import dataclass

import librosa
import numpy as np
import soundfile as sf
from scipy.signal import butter, sosfiltfilt

from leanspeech.audio.resample import resample


@dataclass(frozen=True)
class Channel:
    bottleneck_rate: int = 8000
    band_hz: tuple[float, float] = (100.0, 3400.0)
    codec: str | None = "gsm"  # None: no codec for anybody
    trim_db: float = 40.0  # trailing/leading frames this far below the loudest are cut
    active_level_dbfs: float = -26.0  # RMS over the frames within 40 dB of the loudest
    noise_floor_dbfs: float = -66.0  # white, across the whole band of the output rate
    bits: int = 16


def gsm_round_trip(wav: np.ndarray, rate: int) -> np.ndarray:
    """Encode and decode with GSM 06.10 (sox); the input must be at 8 kHz."""
    buffer = io.BytesIO()
    sf.write(buffer, wav, rate, format="WAV", subtype="PCM_16")
    coded = _sox(["sox", "-t", "wav", "-", "-t", "gsm", "-"], buffer.getvalue())
    decoded = _sox(["sox", "-t", "gsm", "-r", str(rate), "-c", "1", "-", "-t", "wav", "-b", "16", "-"], coded)
    out, _ = sf.read(io.BytesIO(decoded), dtype="float32")
    return out[:len(wav)]


def _sox(cmd: list[str], data: bytes) -> bytes:
    done = subprocess.run(cmd, input=data, capture_output=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"sox failed ({done.returncode}): {done.stderr.decode(errors='replace').strip()[:200]}")
    return done.stdout


def active_rms(wav: np.ndarray, rate: int, range_db: float = 40.0) -> float:
    """RMS over the 20 ms frames within `range_db` of the loudest, so pauses do not lower the level."""
    frame = rate // 50
    frames = wav[:len(wav) // frame * frame].reshape(-1, frame)
    power = np.mean(frames.astype(np.float64) ** 2, axis=1)
    if not power.size or power.max() == 0:
        raise ValueError("digital silence")
    return float(np.sqrt(power[power >= power.max() * 10 ** (-range_db / 10)].mean()))


def apply_channel(wav: np.ndarray, rate: int, out_rate: int, rng: np.random.Generator,
                  channel: Channel = Channel()) -> np.ndarray:
    """`wav` at `rate` through the common channel, returned at `out_rate` (float, on the 16-bit grid's
    dithered side: writing it as PCM_16 is the quantisation)."""
    low = resample(np.asarray(wav, dtype=np.float32), rate, channel.bottleneck_rate, quality="VHQ")
    if low.size == 0 or not np.isfinite(low).all():
        raise ValueError("no usable samples")
    low, _ = librosa.effects.trim(low, top_db=channel.trim_db, frame_length=256, hop_length=64)
    sos = butter(8, channel.band_hz, btype="bandpass", fs=channel.bottleneck_rate, output="sos")
    low = sosfiltfilt(sos, low).astype(np.float32)
    peak = float(np.abs(low).max()) if low.size else 0.0
    if peak == 0:
        raise ValueError("digital silence")
    low *= 0.5 / peak  # one level into the codec
    if channel.codec == "gsm":
        low = gsm_round_trip(low, channel.bottleneck_rate)
    elif channel.codec is not None:
        raise ValueError(f"unknown codec {channel.codec!r}; known: gsm or None")
    out = resample(low, channel.bottleneck_rate, out_rate, quality="VHQ").astype(np.float64)
    out *= 10 ** (channel.active_level_dbfs / 20) / active_rms(out, out_rate)
    out += 10 ** (channel.noise_floor_dbfs / 20) * rng.standard_normal(len(out))
    lsb = 2.0 ** (1 - channel.bits)
    out += lsb * (rng.random(len(out)) - rng.random(len(out)))  # TPDF dither, one LSB peak
    return out.astype(np.float32)

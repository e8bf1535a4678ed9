"""Noise and RIR pools the mixer draws from, built from arrays or from manifest entries.

Noise files can be hours long, so a file-backed pool reads only the window a mix needs.
RIRs are short: they are loaded once, normalised to unit energy and given an RT60.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import scipy.fft
import soundfile as sf

from leanspeech.audio.io import load_audio
from leanspeech.audio.resample import resample
from leanspeech.data import degrade
from leanspeech.data.manifest import ManifestEntry
from leanspeech.errors import AudioError

log = logging.getLogger(__name__)


def read_window(path: str | Path, start: int, frames: int) -> np.ndarray:
    """`frames` mono samples from `start` (in file samples), looping over the file's end."""
    try:
        with sf.SoundFile(str(path)) as f:
            total = f.frames
            if total == 0:
                raise AudioError(path, "no samples (zero-length audio)")
            pieces, position, needed = [], start % total, frames
            while needed > 0:
                f.seek(position)
                chunk = f.read(min(needed, total - position), dtype="float32", always_2d=True)
                pieces.append(chunk.mean(axis=1))
                needed -= len(chunk)
                position = 0
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(path, f"unreadable or unsupported audio ({err})") from None
    return np.concatenate(pieces)


@dataclass
class ArrayNoise:
    wav: np.ndarray

    @property
    def length(self) -> int:
        return len(self.wav)

    def fetch(self, start: int, length: int) -> np.ndarray:
        return degrade.noise_segment(self.wav, length, start)


@dataclass
class FileNoise:
    """A noise file read a window at a time; `length` and `start` count samples at `sample_rate`."""

    path: Path
    length: int
    file_rate: int
    sample_rate: int

    def fetch(self, start: int, length: int) -> np.ndarray:
        if self.file_rate == self.sample_rate:
            return read_window(self.path, start, length)
        ratio = self.file_rate / self.sample_rate  # read the matching span at the file's rate
        native = read_window(self.path, int(start * ratio), math.ceil(length * ratio) + 1)
        return np.resize(resample(native, self.file_rate, self.sample_rate), length)


def report_skipped(what: str, skipped: list[tuple[str, str]]) -> None:
    if skipped:
        details = "; ".join(f"{path}: {why}" for path, why in skipped[:5])
        more = f" (and {len(skipped) - 5} more)" if len(skipped) > 5 else ""
        log.warning("skipped %d %s: %s%s", len(skipped), what, details, more)


class NoisePool:
    """Noise clips (ArrayNoise or FileNoise); a draw is a random clip, looped from a random start.
    Plain dataclasses, so the pool pickles into spawned DataLoader workers."""

    def __init__(self, clips: Sequence[ArrayNoise | FileNoise]):
        self.clips = list(clips)

    def __len__(self) -> int:
        return len(self.clips)

    @classmethod
    def from_arrays(cls, arrays: Sequence[np.ndarray]) -> NoisePool:
        return cls([ArrayNoise(np.asarray(a, dtype=np.float32)) for a in arrays])

    @classmethod
    def from_entries(cls, entries: Sequence[ManifestEntry], root: str | Path, sample_rate: int) -> NoisePool:
        """File-backed pool; files that do not exist are reported and skipped."""
        clips, skipped = [], []
        for entry in entries:
            path = entry.resolve(root)
            if path.is_file():
                length = max(int(round(entry.duration * sample_rate)), 1)
                clips.append(FileNoise(path, length, entry.sample_rate, sample_rate))
            else:
                skipped.append((str(path), "file does not exist"))
        report_skipped("noise files", skipped)
        return cls(clips)

    def draw(self, rng: np.random.Generator, length: int) -> np.ndarray:
        clip = self.clips[int(rng.integers(len(self.clips)))]
        return clip.fetch(int(rng.integers(clip.length)), length)


class RirPool:
    """Unit-energy RIRs with their RT60s; `reverberate` convolves in the frequency domain and keeps
    the most recent RIR spectra, since crops of one length reuse the same FFT size."""

    def __init__(self, rirs: Sequence[np.ndarray], rt60: Sequence[float], cached_spectra: int = 128):
        self.rirs = [degrade.normalize_rir(r) for r in rirs]
        self.delays = [degrade.direct_path_index(r) for r in self.rirs]
        self.rt60 = np.asarray(rt60, dtype=np.float64)
        self.cached_spectra = cached_spectra
        self._spectra: OrderedDict[tuple[int, int, int], np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self.rirs)

    @classmethod
    def from_arrays(cls, rirs: Sequence[np.ndarray], sample_rate: int,
                    rt60: Sequence[float] | None = None) -> RirPool:
        if rt60 is None:
            rt60 = [degrade.estimate_rt60(r, sample_rate) for r in rirs]
        return cls(rirs, rt60)

    @classmethod
    def from_entries(cls, entries: Sequence[ManifestEntry], root: str | Path, sample_rate: int) -> RirPool:
        """Loads every RIR; RT60 from the manifest's `rt60` column, else estimated. Bad files are
        reported and skipped."""
        rirs, rt60s, skipped = [], [], []
        for entry in entries:
            path = entry.resolve(root)
            try:
                rir, _ = load_audio(path, sample_rate=sample_rate)
                rt60 = float(entry.extra["rt60"]) if "rt60" in entry.extra else degrade.estimate_rt60(rir, sample_rate)
                degrade.normalize_rir(rir)  # an all-zero file fails here, not in the middle of training
            except (AudioError, ValueError) as err:
                skipped.append((str(path), str(err)))
                continue
            rirs.append(rir)
            rt60s.append(rt60)
        report_skipped("RIR files", skipped)
        return cls(rirs, rt60s)

    def indices_in(self, low: float, high: float) -> np.ndarray:
        return np.flatnonzero((self.rt60 >= low) & (self.rt60 <= high))

    def _spectrum(self, index: int, n_fft: int, taps: int) -> np.ndarray:
        key = (index, n_fft, taps)
        if key in self._spectra:
            self._spectra.move_to_end(key)
            return self._spectra[key]
        spectrum = scipy.fft.rfft(self.rirs[index][:taps], n_fft)
        self._spectra[key] = spectrum
        if len(self._spectra) > self.cached_spectra:
            self._spectra.popitem(last=False)
        return spectrum

    def reverberate(self, index: int, speech: np.ndarray, early_samples: int | None = None,
                    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Speech through RIR `index`, shifted so its direct path lines up with the dry speech.

        Returns (reverberant, early): `early` is the speech through the direct path and the next
        `early_samples` taps only (the usual enhancement target), or None.
        """
        rir, delay, length = self.rirs[index], self.delays[index], len(speech)
        n_fft = scipy.fft.next_fast_len(length + len(rir) - 1, real=True)
        spectrum = scipy.fft.rfft(np.asarray(speech, dtype=np.float32), n_fft)

        def through(taps: int) -> np.ndarray:
            wet = scipy.fft.irfft(spectrum * self._spectrum(index, n_fft, taps), n_fft)
            return np.ascontiguousarray(wet[delay:delay + length], dtype=np.float32)

        return through(len(rir)), None if early_samples is None else through(delay + early_samples + 1)

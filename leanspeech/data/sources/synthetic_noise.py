"""Noise made here: coloured noise (white, pink, brown), mains hum, and babble mixed from the corpus's
own speech. Every clip is its own group; babble only mixes talkers of its own split."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from leanspeech.audio.io import load_audio
from leanspeech.data.manifest import SPLITS, ManifestEntry
from leanspeech.data.sources.base import BuildContext, Source, existing_duration, run_jobs, write_clip
from leanspeech.registry import SOURCES

CLIP_SECONDS = 10.0
NOISE_PEAK = 0.5  # mixing sets the level; a fixed peak keeps every file comparable and clear of clipping
COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power falls as 1/f**exponent


def coloured_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise whose power spectrum follows 1/f**exponent (DC removed)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    gain = np.zeros_like(freqs)
    gain[1:] = freqs[1:] ** (-exponent / 2)
    wav = np.fft.irfft(spectrum * gain, n)
    return (wav / np.abs(wav).max()).astype(np.float32)


def mains_hum(n: int, rate: int, mains_hz: float, rng: np.random.Generator, harmonics: int = 12) -> np.ndarray:
    """A hum at the mains frequency and its harmonics with random levels and phases, slowly drifting."""
    t = np.arange(n) / rate
    drift = 1 + 0.002 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * mains_hz * np.cumsum(drift) / rate
    wav = np.zeros(n)
    for k in range(1, harmonics + 1):
        if k * mains_hz >= rate / 2:
            break
        level = rng.uniform(0.2, 1.0) / k ** rng.uniform(0.5, 1.5)
        wav += level * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    return (wav / np.abs(wav).max()).astype(np.float32)


@dataclass(frozen=True)
class NoiseJob:
    origin: str
    kind: str  # a colour, "hum" or "babble"
    seed: tuple[int, ...]
    talkers: tuple[str, ...]  # babble: absolute paths of the speech files to mix
    entry: ManifestEntry
    out: Path


def babble(paths: tuple[str, ...], n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Sum of the talkers at equal RMS, each a random window of its file looped to length n."""
    mix = np.zeros(n)
    for path in paths:
        speech, _ = load_audio(path, sample_rate=rate)
        looped = np.tile(speech, math.ceil(2 * n / len(speech)))
        start = int(rng.integers(len(looped) - n + 1))
        window = looped[start:start + n]
        mix += window / (np.sqrt(np.mean(window ** 2)) + 1e-8)
    return (mix / np.abs(mix).max()).astype(np.float32)


def make_noise(job: NoiseJob) -> ManifestEntry:
    entry, path = job.entry, job.out / job.entry.path
    duration = existing_duration(path)
    if duration is None:
        rate, rng = entry.sample_rate, np.random.default_rng(job.seed)
        n = int(CLIP_SECONDS * rate)
        if job.kind == "babble":
            wav = babble(job.talkers, n, rate, rng)
        elif job.kind == "hum":
            wav = mains_hum(n, rate, float(entry.extra["mains_hz"]), rng)
        else:
            wav = coloured_noise(n, COLOURS[job.kind], rng)
        duration = write_clip(job.out, entry.path, wav, rate, rate, normalize_peak=NOISE_PEAK)
    entry.duration = duration
    return entry


class SyntheticNoise(Source):
    kind = "noise"

    def variants(self, ctx: BuildContext, split: str, index: int,
                 rng: np.random.Generator) -> tuple[str, dict[str, str], tuple[str, ...]] | None:
        """The kind of clip number `index`, its manifest extras and (babble) the talkers it mixes; None: no more."""
        raise NotImplementedError

    def build(self, ctx: BuildContext, minutes: dict[str, float]) -> list[ManifestEntry]:
        jobs = []
        for split in SPLITS:
            for index in range(math.ceil(60 * minutes.get(split, 0) / CLIP_SECONDS)):
                rng = ctx.rng(self.registry_name, split, index)
                picked = self.variants(ctx, split, index, rng)
                if picked is None:
                    break
                kind, extra, talkers = picked
                name = f"{kind}-{split}-{index:04d}"
                entry = ManifestEntry(
                    path=ctx.clip_path("noise", split, kind, name), kind="noise", split=split, speaker=name,
                    source=self.registry_name, duration=0.0, sample_rate=ctx.sample_rate, license="generated",
                    extra={"noise_type": kind, **extra},
                )
                seed = tuple(int(x) for x in rng.integers(2**31, size=2))
                jobs.append(NoiseJob(f"{self.registry_name} {name}", kind, seed, talkers, entry, ctx.out))
        return run_jobs(ctx, make_noise, jobs, f"{self.registry_name} noise")


@SOURCES.register("coloured-noise")
class ColouredNoise(SyntheticNoise):
    def variants(self, ctx, split, index, rng):
        return list(COLOURS)[index % len(COLOURS)], {}, ()


@SOURCES.register("hum")
class MainsHum(SyntheticNoise):
    def variants(self, ctx, split, index, rng):
        return "hum", {"mains_hz": str(50 if index % 2 == 0 else 60)}, ()


@SOURCES.register("babble")
class Babble(SyntheticNoise):
    """Needs the speech sources to have run first: it mixes 3-7 talkers of the same split."""

    def variants(self, ctx, split, index, rng):
        speech = [e for e in ctx.entries if e.kind == "speech" and e.split == split]
        speakers = sorted({e.speaker for e in speech})
        if len(speakers) < 2:
            return None
        chosen = rng.choice(speakers, size=min(len(speakers), int(rng.integers(3, 8))), replace=False)
        files = []
        for speaker in chosen:
            own = [e for e in speech if e.speaker == speaker]
            files.append(str(own[int(rng.integers(len(own)))].resolve(ctx.out)))
        return "babble", {"talkers": ";".join(sorted(chosen))}, tuple(files)

"""What every corpus source shares: the build context, per-file jobs run in parallel with bad files
skipped and counted, and idempotent, peak-safe, atomic writes of the corpus audio."""

from __future__ import annotations

import os
import subprocess
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import soundfile as sf
from tqdm import tqdm

from leanspeech.audio.resample import resample
from leanspeech.data.manifest import ManifestEntry
from leanspeech.data.sources.debian import DebianPackage, install_hint, is_installed
from leanspeech.errors import LeanspeechError

PEAK_LIMIT = 0.99  # resampling can overshoot a full-scale input; keep every file clear of clipping


@dataclass
class Skipped:
    origin: str
    problem: str


@dataclass
class BuildContext:
    """Settings of one build, plus what the sources report back while it runs."""

    out: Path
    sample_rate: int = 16000
    seed: int = 0
    audio_format: str = "flac"
    workers: int = 2
    cache_dir: Path | None = None
    progress: bool = True
    entries: list[ManifestEntry] = field(default_factory=list)  # built so far (babble reads the speech)
    skipped: list[Skipped] = field(default_factory=list)
    missing: dict[str, list[str]] = field(default_factory=dict)  # source name -> missing packages

    def rng(self, *keys: str | int) -> np.random.Generator:
        """A generator determined by the seed and `keys` alone, so each part of the build is reproducible."""
        return np.random.default_rng([self.seed, *(k if isinstance(k, int) else zlib.crc32(k.encode()) for k in keys)])

    def clip_path(self, *parts: str) -> str:
        """Corpus-relative path of an audio file."""
        return "/".join(parts) + "." + self.audio_format


class Source:
    """A registered producer of corpus files of one kind. `build` gets the minutes wanted per split."""

    kind: str = "speech"
    registry_name: str

    def packages(self) -> list[DebianPackage]:
        return []

    def installed(self, ctx: BuildContext, packages: Sequence[DebianPackage]) -> list[DebianPackage]:
        """The packages that are installed; the others are reported once in `ctx.missing`."""
        absent = [p.name for p in packages if not is_installed(p.name)]
        if absent:
            ctx.missing.setdefault(self.registry_name, []).extend(absent)
        return [p for p in packages if p.name not in absent]

    def build(self, ctx: BuildContext, minutes: dict[str, float]) -> list[ManifestEntry]:
        raise NotImplementedError


def missing_message(source: str, packages: list[str]) -> str:
    return f"{source}: Debian package(s) {', '.join(packages)} missing; skipped. Install with: {install_hint(packages)}"


def existing_duration(path: Path) -> float | None:
    """Duration of an already finished file (a re-run reuses it), or None if absent or unreadable."""
    if not path.is_file():
        return None
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError):
        return None
    return info.frames / info.samplerate if info.frames else None


def write_clip(out: Path, rel: str, wav: np.ndarray, rate: int, target_rate: int,
               normalize_peak: float | None = None, bits: int = 16) -> float:
    """Resample to the corpus rate, keep the peak below PEAK_LIMIT (or scale it to `normalize_peak`),
    write atomically (a killed build leaves no half file); returns the duration in seconds."""
    wav = resample(np.asarray(wav, dtype=np.float32), rate, target_rate)
    if wav.size == 0 or not np.isfinite(wav).all():
        raise ValueError("no usable samples after decoding")
    peak = float(np.abs(wav).max())
    if peak == 0:
        raise ValueError("digital silence")
    if normalize_peak is not None:
        wav = wav * (normalize_peak / peak)
    elif peak > PEAK_LIMIT:
        wav = wav * (PEAK_LIMIT / peak)
    path = out / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.part{path.suffix}")
    sf.write(str(tmp), wav, target_rate, subtype=f"PCM_{bits}")
    os.replace(tmp, path)
    return len(wav) / target_rate


def run_command(cmd: list[str], stdin: str | None = None) -> bytes:
    """Run an external tool; a failure raises with its stderr so the skipped-file report says why."""
    done = subprocess.run(cmd, input=stdin.encode() if stdin is not None else None, capture_output=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({done.returncode}): {done.stderr.decode(errors='replace').strip()[:200]}")
    return done.stdout


_JOB_ERRORS = (LeanspeechError, OSError, ValueError, RuntimeError, subprocess.SubprocessError, sf.LibsndfileError)


def _guarded(fn: Callable[[Any], ManifestEntry], job: Any) -> ManifestEntry | Skipped:
    try:
        return fn(job)
    except _JOB_ERRORS as err:
        return Skipped(job.origin, str(err))


def run_jobs(ctx: BuildContext, fn: Callable[[Any], ManifestEntry], jobs: Sequence[Any], desc: str) -> list[ManifestEntry]:
    """Run `fn` on every job (each has an `origin` naming its input) in `ctx.workers` processes; failed
    jobs are recorded in `ctx.skipped` and left out. Results keep the order of `jobs`."""
    results: list[ManifestEntry | Skipped]
    bar = dict(desc=desc, total=len(jobs), disable=not ctx.progress or not jobs, unit="file", leave=False)
    if ctx.workers <= 1 or len(jobs) < 4:
        results = [_guarded(fn, job) for job in tqdm(jobs, **bar)]
    else:
        with ProcessPoolExecutor(max_workers=ctx.workers) as pool:
            results = list(tqdm(pool.map(_guarded, [fn] * len(jobs), jobs, chunksize=4), **bar))
    ctx.skipped.extend(r for r in results if isinstance(r, Skipped))
    return [r for r in results if not isinstance(r, Skipped)]

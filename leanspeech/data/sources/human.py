"""Recorded human speech: professional IVR prompts from Debian's Asterisk sound packages (8 kHz).

Allison recorded both the en-US and the es-MX set: one speaker. The French (Armelle) and Colombian
Spanish sets are raw GSM 06.10 files, decoded with sox.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from leanspeech.audio.io import audio_info, load_audio
from leanspeech.data.manifest import SPLITS, ManifestEntry
from leanspeech.data.sources.base import BuildContext, Skipped, Source, existing_duration, run_command, run_jobs, write_clip
from leanspeech.data.sources.debian import DebianPackage, package_files
from leanspeech.data.splits import HUMAN_SPEAKER_SPLITS
from leanspeech.errors import AudioError
from leanspeech.registry import SOURCES

GSM_FRAME_BYTES, GSM_FRAME_SAMPLES, GSM_RATE = 33, 160, 8000
SOX = DebianPackage("sox", "GPL-2+")


@dataclass(frozen=True)
class PromptSet:
    """One package (or, for tests and users, one folder) of prompts by one speaker."""

    speaker: str
    language: str
    package: DebianPackage | None
    folder: Path | None = None  # read this folder instead of the package's file list

    def files(self) -> list[Path]:
        if self.folder is not None:
            return sorted(p for p in self.folder.rglob("*") if p.suffix.lower() in (".wav", ".gsm", ".flac"))
        return package_files(self.package.name, (".wav", ".gsm"))

    @property
    def license(self) -> str:
        return self.package.license if self.package else ""


CC_BY_SA = "CC-BY-SA-3.0"
DEBIAN_PROMPT_SETS = (
    PromptSet("allison", "en-US", DebianPackage("asterisk-core-sounds-en-wav", CC_BY_SA)),
    PromptSet("allison", "es-MX", DebianPackage("asterisk-core-sounds-es-wav", CC_BY_SA)),
    PromptSet("june", "fr-CA", DebianPackage("asterisk-core-sounds-fr-wav", CC_BY_SA)),
    PromptSet("carlo", "it-IT", DebianPackage("asterisk-core-sounds-it-wav", CC_BY_SA)),
    PromptSet("armelle", "fr-FR", DebianPackage("asterisk-prompt-fr-armelle", "BSD-style (redistribution with notice)")),
    PromptSet("es-co", "es-CO", DebianPackage("asterisk-prompt-es-co", "GPL-2")),
)


def prompt_header(path: Path) -> tuple[float, int]:
    """(seconds, sample rate) from the header (raw GSM has none: 33 bytes per 160 samples at 8 kHz)."""
    if path.suffix.lower() == ".gsm":
        size = path.stat().st_size
        if size == 0 or size % GSM_FRAME_BYTES:
            raise AudioError(path, f"{size} bytes is not a whole number of GSM frames")
        return size // GSM_FRAME_BYTES * GSM_FRAME_SAMPLES / GSM_RATE, GSM_RATE
    info = audio_info(path)
    if info.frames == 0:
        raise AudioError(path, "no samples (zero-length audio)")
    return info.frames / info.samplerate, info.samplerate


def decode_prompt(path: Path) -> tuple[np.ndarray, int]:
    if path.suffix.lower() != ".gsm":
        return load_audio(path)
    wav_bytes = run_command(["sox", "-t", "gsm", "-r", str(GSM_RATE), "-c", "1", str(path), "-t", "wav", "-b", "16", "-"])
    wav, rate = sf.read(io.BytesIO(wav_bytes), dtype="float32")
    return wav, rate


@dataclass(frozen=True)
class PromptJob:
    origin: str
    entry: ManifestEntry
    out: Path


def convert_prompt(job: PromptJob) -> ManifestEntry:
    entry, path = job.entry, job.out / job.entry.path
    duration = existing_duration(path)
    if duration is None:
        wav, rate = decode_prompt(Path(job.origin))
        duration = write_clip(job.out, entry.path, wav, rate, entry.sample_rate)
    entry.duration = duration
    return entry


@SOURCES.register("ivr-prompts")
class IvrPrompts(Source):
    """Five professional speakers; each speaker stays in the split HUMAN_SPEAKER_SPLITS gives it."""

    kind = "speech"

    def __init__(self, sets: tuple[PromptSet, ...] = DEBIAN_PROMPT_SETS, speaker_splits: dict[str, str] = HUMAN_SPEAKER_SPLITS):
        self.sets, self.speaker_splits = sets, speaker_splits

    def packages(self) -> list[DebianPackage]:
        return [s.package for s in self.sets if s.package] + [SOX]

    def prompt_files(self, ctx: BuildContext) -> list[tuple[PromptSet, Path]]:
        installed = {p.name for p in self.installed(ctx, [s.package for s in self.sets if s.folder is None])}
        files = [(s, path) for s in self.sets if s.folder is not None or s.package.name in installed for path in s.files()]
        if any(path.suffix.lower() == ".gsm" for _, path in files) and not self.installed(ctx, [SOX]):
            files = [(s, path) for s, path in files if path.suffix.lower() != ".gsm"]
        return files

    def build(self, ctx: BuildContext, minutes: dict[str, float]) -> list[ManifestEntry]:
        files = self.prompt_files(ctx)
        folders: dict[PromptSet, list[str]] = {}
        for prompt_set, path in files:
            folders.setdefault(prompt_set, []).append(str(path.parent))
        roots = {s: Path(os.path.commonpath(paths)) for s, paths in folders.items()}  # names stay short and unique
        by_speaker: dict[str, list[tuple[PromptSet, Path, float, int]]] = {}
        for prompt_set, path in files:
            try:
                by_speaker.setdefault(prompt_set.speaker, []).append((prompt_set, path, *prompt_header(path)))
            except (AudioError, OSError) as err:
                ctx.skipped.append(Skipped(str(path), str(err)))
        jobs = []
        for split in SPLITS:
            speakers = sorted(s for s in by_speaker if self.speaker_splits.get(s) == split)
            for speaker in speakers:
                quota = 60 * minutes.get(split, 0) / len(speakers)
                candidates = by_speaker[speaker]
                order = ctx.rng("ivr-prompts", speaker).permutation(len(candidates))
                total = 0.0
                for index in order:
                    if total >= quota:
                        break
                    prompt_set, path, seconds, rate = candidates[index]
                    total += seconds
                    jobs.append(self._job(ctx, split, prompt_set, path, roots[prompt_set], rate))
        return run_jobs(ctx, convert_prompt, jobs, "recorded speech")

    def _job(self, ctx: BuildContext, split: str, prompt_set: PromptSet, path: Path, root: Path, rate: int) -> PromptJob:
        name = "-".join(path.relative_to(root).with_suffix("").parts)
        entry = ManifestEntry(
            path=ctx.clip_path("speech", split, prompt_set.speaker, f"{prompt_set.language}-{name}"),
            kind="speech", split=split, speaker=prompt_set.speaker, source=self.registry_name, duration=0.0,
            sample_rate=ctx.sample_rate, language=prompt_set.language, license=prompt_set.license,
            extra={"package": prompt_set.package.name if prompt_set.package else "", "prompt": name,
                   "source_rate": str(rate)},
        )
        return PromptJob(str(path), entry, ctx.out)


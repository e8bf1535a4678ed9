"""Recorded non-speech from Debian: music on hold (cut into segments) and short sound icons.

Every segment of a recording stays in the split its recording was assigned to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from leanspeech.audio.io import audio_info
from leanspeech.data.manifest import SPLITS, ManifestEntry
from leanspeech.data.sources.base import BuildContext, Skipped, Source, existing_duration, run_jobs, write_clip
from leanspeech.data.sources.debian import DebianPackage, package_files
from leanspeech.data.splits import assign_groups
from leanspeech.errors import AudioError
from leanspeech.registry import SOURCES

MIN_SEGMENT_SECONDS = 2.0  # a shorter tail of a recording is dropped


@dataclass(frozen=True)
class SegmentJob:
    origin: str
    start: int  # frames of the source file
    stop: int
    entry: ManifestEntry
    out: Path


def cut_segment(job: SegmentJob) -> ManifestEntry:
    entry, path = job.entry, job.out / job.entry.path
    duration = existing_duration(path)
    if duration is None:
        try:
            wav, rate = sf.read(job.origin, start=job.start, stop=job.stop, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as err:
            raise AudioError(job.origin, f"unreadable audio ({err})") from None
        duration = write_clip(job.out, entry.path, wav.mean(axis=1), rate, entry.sample_rate)
    entry.duration = duration
    return entry


class RecordedNoise(Source):
    """Files of one package (or a folder), cut into segments of at most `segment_seconds`."""

    kind = "noise"
    package: DebianPackage
    noise_type: str
    segment_seconds: float = 10.0

    def __init__(self, folder: str | Path | None = None):
        self.folder = Path(folder) if folder is not None else None

    def packages(self) -> list[DebianPackage]:
        return [self.package]

    def files(self, ctx: BuildContext) -> list[Path]:
        if self.folder is not None:
            return sorted(self.folder.glob("*.wav"))
        return package_files(self.package.name, (".wav",)) if self.installed(ctx, [self.package]) else []

    def build(self, ctx: BuildContext, minutes: dict[str, float]) -> list[ManifestEntry]:
        segments: dict[str, list[SegmentJob]] = {split: [] for split in SPLITS}
        files = self.files(ctx)
        splits = assign_groups(f.stem for f in files)
        for path in files:
            try:
                info = audio_info(path)
                if info.frames == 0:
                    raise AudioError(path, "no samples (zero-length audio)")
            except AudioError as err:
                ctx.skipped.append(Skipped(str(path), err.problem))
                continue
            split = splits[path.stem]
            segments[split] += self._segments(ctx, path, split, info.frames, info.samplerate)
        jobs = []
        for split in SPLITS:
            order = ctx.rng(self.registry_name, split).permutation(len(segments[split]))
            total, quota = 0.0, 60 * minutes.get(split, 0)
            for index in order:
                if total >= quota:
                    break
                job = segments[split][index]
                total += (job.stop - job.start) / float(job.entry.extra["source_rate"])
                jobs.append(job)
        return run_jobs(ctx, cut_segment, sorted(jobs, key=lambda j: j.entry.path), f"{self.noise_type} noise")

    def _segments(self, ctx: BuildContext, path: Path, split: str, frames: int, rate: int) -> list[SegmentJob]:
        step = int(self.segment_seconds * rate)
        jobs = []
        for index, start in enumerate(range(0, frames, step)):
            stop = min(frames, start + step)
            if stop - start < MIN_SEGMENT_SECONDS * rate and start > 0:
                break
            entry = ManifestEntry(
                path=ctx.clip_path("noise", split, self.noise_type, f"{path.stem}-{index:03d}"),
                kind="noise", split=split, speaker=f"{self.noise_type}-{path.stem}", source=self.registry_name,
                duration=0.0, sample_rate=ctx.sample_rate, license=self.package.license,
                extra={"noise_type": self.noise_type, "package": self.package.name, "source_rate": str(rate),
                       "offset_s": f"{start / rate:.2f}"},
            )
            jobs.append(SegmentJob(str(path), start, stop, entry, ctx.out))
        return jobs


@SOURCES.register("moh-music")
class MusicOnHold(RecordedNoise):
    package = DebianPackage("asterisk-moh-opsound-wav", "CC-BY-SA-3.0")
    noise_type = "music"


@SOURCES.register("sound-icons")
class SoundIcons(RecordedNoise):
    package = DebianPackage("sound-icons", "GPL-2+")
    noise_type = "icon"

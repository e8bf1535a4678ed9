"""The offline corpus builder: runs a task's sources with a minutes budget, then writes the manifest,
an ATTRIBUTION file, `build.json` (the arguments, the leanspeech version and the manifest's SHA-256, so
two builds can be told apart and a study's corpus rebuilt) and a summary. Re-running with the same
arguments reuses every finished file."""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import leanspeech
from leanspeech.data.manifest import BUILD_RECORD, SPLITS, ManifestEntry, write_manifest
from leanspeech.data.sources import BuildContext, Skipped, Source
from leanspeech.data.sources.base import missing_message
from leanspeech.data.sources.debian import copyright_lines, install_hint
from leanspeech.data.spoof_protocol import write_protocols
from leanspeech.data.splits import check_no_leakage, minutes_per_split
from leanspeech.data.tasks import TASKS
from leanspeech.errors import CorpusError
from leanspeech.registry import SOURCES


# Files a task writes besides the manifest, from its entries: (corpus folder, entries) -> paths.
TASK_OUTPUTS = {"spoof": write_protocols}


@dataclass
class CorpusBuild:
    out: Path
    entries: list[ManifestEntry]
    skipped: list[Skipped]
    missing: dict[str, list[str]]
    seconds: float

    @property
    def manifest(self) -> Path:
        return self.out / "manifest.csv"


def build_corpus(
    out: str | Path,
    minutes: float = 10.0,
    seed: int = 0,
    sample_rate: int = 16000,
    task: str = "vad",
    audio_format: str = "flac",
    workers: int = 2,
    cache_dir: str | Path | None = None,
    sources: dict[str, Source] | None = None,
    progress: bool = True,
) -> CorpusBuild:
    """Build (or finish) the corpus of `task` under `out`. `sources` replaces registered sources by name."""
    if task not in TASKS:
        raise CorpusError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    if minutes <= 0:
        raise CorpusError(f"--minutes must be positive, got {minutes}")
    if audio_format not in ("flac", "wav"):
        raise CorpusError(f"audio format must be flac or wav, got {audio_format!r}")
    started = time.perf_counter()
    ctx = BuildContext(out=Path(out).resolve(), sample_rate=sample_rate, seed=seed, audio_format=audio_format,
                       workers=workers, cache_dir=Path(cache_dir) if cache_dir else None, progress=progress)
    ctx.out.mkdir(parents=True, exist_ok=True)
    built: list[tuple[Source, list[ManifestEntry]]] = []
    for share in TASKS[task]:
        source = (sources or {}).get(share.source) or SOURCES.build(share.source)
        if source.kind != "speech":  # plans list speech first; noise and RIRs are pointless without it
            require_speech(ctx)
        entries = source.build(ctx, minutes_per_split(minutes * share.fraction))
        ctx.entries += entries
        built.append((source, entries))
    require_speech(ctx)
    check_no_leakage(ctx.entries)
    write_manifest(ctx.out / "manifest.csv", ctx.entries)
    if task in TASK_OUTPUTS:
        TASK_OUTPUTS[task](ctx.out, ctx.entries)
    write_attribution(ctx.out / "ATTRIBUTION.md", built)
    record = {"task": task, "minutes": minutes, "seed": seed, "sample_rate": sample_rate, "format": audio_format,
              "leanspeech": leanspeech.__version__, "files": len(ctx.entries),
              "manifest_sha256": hashlib.sha256((ctx.out / "manifest.csv").read_bytes()).hexdigest()}
    (ctx.out / BUILD_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return CorpusBuild(ctx.out, ctx.entries, ctx.skipped, ctx.missing, time.perf_counter() - started)


def require_speech(ctx: BuildContext) -> None:
    if not any(e.kind == "speech" for e in ctx.entries):
        wanted = sorted({p for names in ctx.missing.values() for p in names})
        hint = f"; install the missing packages with: {install_hint(wanted)}" if wanted else ""
        raise CorpusError(f"{ctx.out}: no speech could be built{hint}")


def write_attribution(path: Path, built: list[tuple[Source, list[ManifestEntry]]]) -> Path:
    """Who made the audio and under which licence, per source that contributed files."""
    lines = ["# Attribution", "", "Audio in this corpus comes from these Debian packages (or is generated here).", ""]
    for source, entries in built:
        if not entries:
            continue
        used = sorted({e.extra.get("package", "") for e in entries} - {""})
        lines += [f"## {source.registry_name} ({source.kind}, {len(entries)} files)", ""]
        for package in used:
            voices = sorted({e.speaker for e in entries if e.extra.get("package") == package})
            licence = next(e.license for e in entries if e.extra.get("package") == package)
            lines.append(f"- package `{package}` ({', '.join(voices)}), licence: {licence}; "
                         f"full text /usr/share/doc/{package}/copyright")
            lines += [f"  - {line}" for line in copyright_lines(package)]
        if not used:
            lines.append("- generated by leanspeech (no third-party material)")
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def summary_rows(entries: list[ManifestEntry]) -> list[tuple[str, str, str, int, int, float]]:
    """(split, kind, source, groups, files, minutes) per split, kind and source, in split order."""
    files: dict[tuple[str, str, str], list[ManifestEntry]] = defaultdict(list)
    for e in entries:
        files[(e.split, e.kind, e.source)].append(e)
    order = {s: i for i, s in enumerate(SPLITS)}
    return [(split, kind, source, len({e.speaker for e in group}), len(group), sum(e.duration for e in group) / 60)
            for (split, kind, source), group in sorted(files.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1:]))]


def missing_report(missing: dict[str, list[str]]) -> list[str]:
    return [missing_message(source, sorted(set(packages))) for source, packages in missing.items()]

"""The offline corpus builder: runs a task's sources with a minutes budget, then writes the manifest,
an ATTRIBUTION file and a summary. Re-running with the same arguments reuses every finished file."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from leanspeech.data.manifest import SPLITS, ManifestEntry, write_manifest
from leanspeech.data.sources import BuildContext, Skipped, Source
from leanspeech.data.sources.base import missing_message
from leanspeech.data.sources.debian import copyright_lines, install_hint
from leanspeech.data.spoof_protocol import write_protocols
from leanspeech.data.splits import check_no_leakage, minutes_per_split
from leanspeech.errors import CorpusError
from leanspeech.registry import SOURCES


@dataclass(frozen=True)
class Share:
    """A source's part of the budget: `fraction` of the speech minutes (noise and RIRs scale with them)."""

    source: str
    fraction: float


# Speech: 60 % recorded, 40 % TTS. Noise: half as many minutes as speech (mixing reuses it at random
# offsets). RIRs: ShoeboxRir turns its minutes into a count (6 per minute of speech).
TASKS: dict[str, tuple[Share, ...]] = {
    "vad": (
        Share("ivr-prompts", 0.6), Share("espeak-ng", 0.16), Share("flite", 0.12), Share("festival", 0.12),
        Share("moh-music", 0.2), Share("sound-icons", 0.02), Share("coloured-noise", 0.1), Share("hum", 0.05),
        Share("babble", 0.13), Share("shoebox-rir", 1.0),
    ),
    # Anti-spoofing, ASVspoof 2019 LA layout: 40 % bona fide, 60 % spoofed (leanspeech.data.sources.spoof).
    "spoof": (Share("spoof-bonafide", 0.4), Share("spoof-attacks", 0.6)),
    # Quality distillation (leanspeech.data.sources.sqa_unlabeled): `minutes` of degraded clips, drawn
    # from a smaller clean pool (clips reuse utterances), with noise and RIRs of the same splits.
    "sqa-unlabeled": (
        Share("ivr-prompts", 0.5), Share("espeak-ng", 0.04), Share("flite", 0.03), Share("festival", 0.03),
        Share("moh-music", 0.12), Share("coloured-noise", 0.06), Share("hum", 0.02), Share("babble", 0.1),
        Share("shoebox-rir", 0.5), Share("sqa-degraded", 1.0),
    ),
}
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

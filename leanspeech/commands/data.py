"""`leanspeech data build`: the offline corpus of real and synthetic speech, noise and room responses."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from leanspeech.data.tasks import TASKS

if TYPE_CHECKING:
    from leanspeech.data.corpus import CorpusBuild

EXAMPLES = """examples:
  leanspeech data build --out data/corpus --minutes 10
  leanspeech data build --out data/big --minutes 120 --seed 1 --format wav --sample-rate 8000
  leanspeech data build --task spoof --out data/spoof --minutes 20   # ASVspoof 2019 LA layout
  leanspeech data build --task sqa-unlabeled --out data/sqa --minutes 30   # degraded speech + WB-PESQ labels

The corpus folder gets manifest.csv (paths relative to it), ATTRIBUTION.md, build.json (the arguments,
the leanspeech version and the manifest's SHA-256) and speech/, noise/, rir/.
Speakers, TTS voices and noise recordings never cross splits. Re-running reuses finished files.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="build and inspect corpora",
                                 description="Build and inspect corpora.", epilog=EXAMPLES,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = data.add_subparsers(dest="action", metavar="ACTION")
    build = actions.add_parser(
        "build", help="build the offline corpus from Debian packages and synthesis",
        description="Build a corpus from Debian's recorded IVR prompts, TTS voices (espeak-ng, flite, festival), "
                    "music and sound icons, synthesized noise and simulated room impulse responses.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("--out", required=True, help="corpus folder (created; an existing build is resumed)")
    build.add_argument("--minutes", type=float, default=10.0, help="minutes of speech; noise and RIRs scale with it (default 10)")
    build.add_argument("--task", choices=sorted(TASKS), default="vad", help="which sources to build (default vad)")
    build.add_argument("--seed", type=int, default=0, help="same seed, same corpus (default 0)")
    build.add_argument("--sample-rate", type=int, default=16000, help="rate of every written file (default 16000)")
    build.add_argument("--format", dest="audio_format", choices=["flac", "wav"], default="flac", help="file format (default flac)")
    build.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    build.add_argument("--cache-dir", help="RIR cache (default $LEANSPEECH_CACHE/rir or ~/.cache/leanspeech/rir)")
    build.set_defaults(run=run_build)
    data.set_defaults(run=lambda args: data.print_help() or 2)


def run_build(args: argparse.Namespace) -> int:
    from leanspeech.data.corpus import build_corpus

    console = Console()
    done = build_corpus(args.out, minutes=args.minutes, seed=args.seed, sample_rate=args.sample_rate, task=args.task,
                        audio_format=args.audio_format, workers=args.workers, cache_dir=args.cache_dir)
    print_summary(console, done)
    return 0


def print_summary(console: Console, done: CorpusBuild) -> None:
    from leanspeech.data.corpus import missing_report, summary_rows

    table = Table(title=f"corpus {done.out}")
    for column in ("split", "kind", "source", "groups", "files", "minutes"):
        table.add_column(column, justify="right" if column in ("groups", "files", "minutes") else "left")
    for split, kind, source, groups, files, minutes in summary_rows(done.entries):
        table.add_row(split, kind, source, str(groups), str(files), f"{minutes:.2f}")
    console.print(table)
    for line in missing_report(done.missing):
        console.print(f"[yellow]warning[/]: {line}")
    if done.skipped:
        console.print(f"[yellow]skipped {len(done.skipped)} unreadable or failed input(s)[/]:")
        for item in done.skipped[:10]:
            console.print(f"  {item.origin}: {item.problem}", markup=False)
        if len(done.skipped) > 10:
            console.print(f"  ... and {len(done.skipped) - 10} more")
    console.print(f"manifest: {done.manifest}  ({len(done.entries)} files, built in {done.seconds:.1f} s)")

"""`leanspeech sweep RECIPE --grid key=v1,v2 ...`: a grid of training runs and a summary report."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

EXAMPLES = """examples:
  leanspeech sweep recipes/vad/width.yaml --grid model.min_fraction=0.5,0.25,0.125 --out runs/sweep-width
  leanspeech sweep recipes/quality.yaml --grid optim.lr=1e-3,3e-4 --grid model.dense=32,64 --jobs 2
  leanspeech sweep recipes/vad.yaml --grid seed=0,1,2 --set trainer.max_epochs=5 --out runs/seeds

Each grid point trains into OUT/<key-value_...> (e.g. runs/sweep-width/min_fraction-0.25). Running the
same command again skips finished runs (metrics.json present) and resumes interrupted ones. Every
recipe is checked before the first run; a failed run is reported at the end and the others go on.
The summary report (table, Pareto plots, index.html) is written to OUT/report.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sweep", help="train a grid of recipe variants (resumable, parallel) and report them",
        description="Train one run per point of a grid of recipe overrides, skipping finished runs, in parallel "
                    "processes, and write a summary report.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("recipe", help="the recipe YAML file")
    parser.add_argument("--grid", action="append", required=True, metavar="KEY=V1,V2",
                        help="dotted recipe key and its values (YAML); repeat for more keys")
    parser.add_argument("--set", dest="fixed", action="append", default=[], metavar="KEY=VALUE",
                        help="an override applied to every run; repeatable")
    parser.add_argument("--out", type=Path, help="sweep folder (default runs/<recipe name>-sweep)")
    parser.add_argument("--jobs", type=int, default=1, help=f"runs at a time (this machine has {os.cpu_count()} cores)")
    parser.add_argument("--no-report", action="store_true", help="skip the summary report")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from leanspeech.sweep import parse_grid, run_sweep

    out = args.out or Path("runs") / f"{Path(args.recipe).stem}-sweep"
    runs = run_sweep(args.recipe, parse_grid(args.grid), out, args.jobs, args.fixed, report=not args.no_report)
    counts = {s: sum(r.status == s for r in runs) for s in ("done", "skipped", "failed")}
    print(f"sweep {out}: {counts['done']} trained, {counts['skipped']} already finished, {counts['failed']} failed")
    for failed in (r for r in runs if r.status == "failed"):
        print(f"  failed {failed.name}: {failed.error}")
    if not args.no_report:
        print(f"report: {out / 'report' / 'index.html'}")
    return 1 if counts["failed"] else 0

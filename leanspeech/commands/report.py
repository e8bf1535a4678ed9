"""`leanspeech report RUN_DIR... -o DIR`: every run's task metric and complexity in one table and page."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """examples:
  leanspeech report runs/vad-* -o reports/vad
  leanspeech report runs/sweep-width/* runs/stack-vad runs/vad-study/report -o reports/all --latency
  leanspeech report runs/*/ -o reports/all --seconds 2 --repeats 30

Each RUN_DIR holds a metrics.json: the training engine's, a report point, or a list of points (a study
with its peers); the schema is in leanspeech/report/__init__.py. Complexity that a run does not state is
profiled from its model.pt; --latency times every model's forward_wav at batch 1 on the same audio,
interleaved. Writes results.csv, results.md, index.html (self-contained) and one PNG per task and cost.
Runs of different tasks are grouped by task; runs without a readable metric are listed as incomplete.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="trade-off table and Pareto plots across runs (CSV, Markdown, HTML)",
        description="Collect the task metric and complexity of many runs into one table and one HTML page with "
                    "Pareto plots per task (metric vs FLOP/s and vs latency), peers included.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="run directories (or metrics.json files)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder (created)")
    parser.add_argument("--latency", action="store_true", help="measure each model's latency here, interleaved")
    parser.add_argument("--seconds", type=float, default=4.0, help="audio per forward when profiling/timing (4)")
    parser.add_argument("--repeats", type=int, default=10, help="timed rounds with --latency (median reported)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from leanspeech.report import build_report

    written = build_report(args.runs, args.out, latency=args.latency, seconds=args.seconds, repeats=args.repeats)
    print((written["markdown"]).read_text())
    print(f"report: {written['html']}")
    return 0

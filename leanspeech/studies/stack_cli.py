"""`leanspeech study stack`: compression methods stacked on a trained model, each step scored and costed."""

from __future__ import annotations

import argparse
from pathlib import Path

STACK_EXAMPLES = """examples:
  leanspeech study stack --recipe recipes/stack/vad-width-dgru-int8.yaml --corpus data/corpus --out runs/stack-vad-dgru
  leanspeech study stack --recipe recipes/stack/vad-width-binary-int8.yaml --corpus data/corpus --out runs/stack-vad-binary
  leanspeech report reports/demo/report runs/stack-vad-* -o reports/tradeoffs     # the stages on the Pareto plots

A recipe names the task (what the model is fine-tuned, calibrated and scored on), the base model and the
steps (leanspeech.stack: consolidate, dgru, binarize, prune, finetune, int8). Writes results.md (score,
parameters, FLOP/s, file size and measured latency after every step, with the change against the base),
results.json, metrics.json for `leanspeech report`, and stages/ (the model after each step; a re-run
resumes after the last finished step).
"""


def add_stack_parser(names: argparse._SubParsersAction) -> None:
    parser = names.add_parser(
        "stack", help="stack compression methods on a trained model and score every step",
        description="Apply a stack recipe's compression steps one after another to a trained model; after each, "
                    "score it on the task's test set and measure its cost and latency.",
        epilog=STACK_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--recipe", required=True, type=Path, help="stack recipe (recipes/stack/*.yaml)")
    parser.add_argument("--corpus", required=True, type=Path, help="corpus folder (leanspeech data build)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (created; re-runs resume)")
    parser.set_defaults(run=run_stack)


def run_stack(args: argparse.Namespace) -> int:
    from leanspeech.studies.stack_report import markdown_table
    from leanspeech.studies.stack_study import StackStudyConfig, run_stack_study

    summary = run_stack_study(StackStudyConfig.from_yaml(args.recipe), args.corpus, args.out)
    print(markdown_table(summary))
    print(f"wall time {summary['wall_seconds'] / 60:.1f} min; results in {args.out}")
    return 0

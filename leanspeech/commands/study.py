"""`leanspeech study`: the synthetic studies of the papers, reproduced end to end on CPU."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from leanspeech.audio.filterbanks import SCALES
from leanspeech.errors import LeanspeechError
from leanspeech.studies.enhance_cli import add_enhance_parser
from leanspeech.studies.quality_cli import add_quality_parser
from leanspeech.studies.spoof_cli import add_spoof_parser

FILTERBANK_EXAMPLES = """examples:
  leanspeech study filterbank --out runs/filterbank
  leanspeech study filterbank --out runs/fb-quick --quick
  leanspeech study filterbank --out runs/mel64 --scale mel --bands 64 --betas 0.01 0.03 --factors 2 4 8

Writes results.csv and results.json (one row per (β, initial factor): final factor K/N, live units,
L1 loss, relative filter-bank error), factor_reduction.png (the paper's Fig. 3) and filterbanks.png
(Fig. 2: learned filter bank early, at the end, and the target).
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    study = subparsers.add_parser(
        "study", help="reproduce a paper's synthetic study",
        description="Reproduce a paper's synthetic study.", epilog=FILTERBANK_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    names = study.add_subparsers(dest="study", metavar="STUDY")
    fb = names.add_parser(
        "filterbank", help="a dynamic-width layer learns a Bark/mel/ERB filter bank (width paper, case study 1)",
        description="Train linear dynamic-width networks to reproduce a filter bank from white noise, for several "
                    "penalty weights β and initial overparameterization factors, and report how far each width shrinks.",
        epilog=FILTERBANK_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fb.add_argument("--out", required=True, help="output folder (created)")
    fb.add_argument("--quick", action="store_true", help="a short run (800 steps, 2 β, 2 factors) for smoke checks")
    fb.add_argument("--scale", choices=SCALES, default="bark", help="target filter bank (default bark)")
    fb.add_argument("--bands", type=int, default=32, help="bands N of the target (default 32; the paper uses 16, 32, 64)")
    fb.add_argument("--betas", type=float, nargs="+", help="penalty weights β (default 0.001 0.003 0.01)")
    fb.add_argument("--factors", type=int, nargs="+", help="initial overparameterization factors (default 2 4 6 8 10)")
    fb.add_argument("--steps", type=int, help="training steps (default 3000, penalty from step 1000)")
    fb.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    fb.set_defaults(run=run_filterbank)
    add_sqa_parser(names)
    add_quality_parser(names)
    add_enhance_parser(names)
    add_spoof_parser(names)
    study.set_defaults(run=lambda args: study.print_help() or 2)


def run_filterbank(args: argparse.Namespace) -> int:
    from leanspeech.studies.filterbank import FilterbankStudyConfig, run_filterbank_study
    from leanspeech.studies.filterbank_report import write_results

    overrides: dict[str, object] = {"scale": args.scale, "bands": args.bands, "seed": args.seed}
    if args.betas:
        overrides["betas"] = tuple(args.betas)
    if args.factors:
        overrides["factors"] = tuple(args.factors)
    if args.steps:
        overrides["steps"], overrides["fixed_steps"] = args.steps, args.steps // 3
    try:
        config = FilterbankStudyConfig.quick(**overrides) if args.quick else FilterbankStudyConfig(**overrides)
    except ValueError as err:
        raise LeanspeechError(str(err)) from None
    result = run_filterbank_study(config)
    paths = write_results(result, args.out)
    table = Table(title=f"{config.bands}-band {config.scale} filter bank, {config.steps} steps")
    for column in ("β", "initial factor", "final factor", "live units", "filter-bank error"):
        table.add_column(column, justify="right")
    for run in result.runs:
        table.add_row(f"{run.beta:g}", str(run.initial_factor), f"{run.final_factor:.2f}", str(run.live_units),
                      f"{100 * run.filterbank_error:.1f} %")
    console = Console()
    console.print(table)
    for kind, path in paths.items():
        console.print(f"{kind}: {path}")
    return 0


SQA_EXAMPLES = """examples:
  leanspeech study sqa --corpus data/sqa --out runs/sqa --quick
  leanspeech study sqa --recipe recipes/sqa/full.yaml --corpus data/sqa --out runs/sqa-full

Builds the sqa-unlabeled corpus in --corpus if it has no manifest. Writes results.csv/json and table.md
(Table I layout: teacher, DNSMOS, labeled-only, distilled, pruned), mix_grid.csv, pcc_vs_params.png
(Fig. 3) and the teacher-vs-student latency; re-running reuses labels and finished models.
"""


def add_sqa_parser(names: argparse._SubParsersAction) -> None:
    sqa = names.add_parser(
        "sqa", help="distill and prune a speech-quality teacher into small students (distill-prune-sqa)",
        description="Label degraded speech with a teacher (Distill-MOS by default), train labeled-only and "
                    "distilled students of several sizes, prune one by Taylor and magnitude importance, and "
                    "compare PCC, parameters and latency.",
        epilog=SQA_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sqa.add_argument("--corpus", required=True, help="sqa-unlabeled corpus folder (built when it has no manifest)")
    sqa.add_argument("--out", required=True, help="output folder (created; a finished part is reused)")
    sqa.add_argument("--recipe", help="YAML recipe (recipes/sqa/*.yaml); default: built-in settings")
    sqa.add_argument("--quick", action="store_true", help="the CPU-sized run (3 sizes, p in {0, 0.2}, 600 steps)")
    sqa.add_argument("--teacher", help="distill-mos or a leanspeech quality model file (overrides the recipe)")
    sqa.add_argument("--workers", type=int, default=2, help="processes for corpus building (default 2)")
    sqa.set_defaults(run=run_sqa)


def run_sqa(args: argparse.Namespace) -> int:
    from leanspeech.studies.sqa import SqaStudyConfig, run_sqa_study

    overrides = {"teacher": args.teacher} if args.teacher else {}
    if args.recipe:
        config = SqaStudyConfig.from_yaml(args.recipe, quick=args.quick)
        config = SqaStudyConfig(**{**config.__dict__, **overrides})
    else:
        config = SqaStudyConfig.quick(**overrides) if args.quick else SqaStudyConfig(**overrides)
    result = run_sqa_study(config, args.corpus, args.out, workers=args.workers)
    console = Console()
    console.print(result["table"], markup=False)
    latency = result["latency"]
    console.print(f"latency at batch 1 on {latency['audio_seconds']} s: teacher {1e3 * latency['teacher_median_s']:.1f} ms, "
                  f"student {latency['student']} {1e3 * latency['student_median_s']:.1f} ms, "
                  f"{latency['speedup']:.1f}x faster (medians of {latency['repeats']}, interleaved)")
    for kind, path in result["paths"].items():
        console.print(f"{kind}: {path}")
    return 0


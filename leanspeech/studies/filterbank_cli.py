"""`leanspeech study filterbank`: the width paper's first case study (a dynamic layer learns a filter bank)."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from leanspeech.errors import LeanspeechError

SCALES = ("mel", "bark", "erb")  # audio.filterbanks.SCALES, spelled out: that module imports torch and librosa

FILTERBANK_EXAMPLES = """examples:
  leanspeech study filterbank --out runs/filterbank
  leanspeech study filterbank --out runs/fb-quick --quick
  leanspeech study filterbank --out runs/mel64 --scale mel --bands 64 --betas 0.01 0.03 --factors 2 4 8

Writes results.csv and results.json (one row per (β, initial factor): final factor K/N, live units,
L1 loss, relative filter-bank error), factor_reduction.png (the paper's Fig. 3) and filterbanks.png
(Fig. 2: learned filter bank early, at the end, and the target).
"""



def add_filterbank_parser(names: argparse._SubParsersAction) -> None:
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

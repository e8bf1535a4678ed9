"""`leanspeech study spoof`: the anti-spoofing study (width-noise-injection.md §VI) from a recipe."""

from __future__ import annotations

import argparse

SPOOF_EXAMPLES = """examples:
  leanspeech data build --task spoof --out data/spoof --minutes 16
  leanspeech study spoof --corpus data/spoof --out runs/spoof-small --recipe recipes/spoof/small.yaml
  leanspeech study spoof --corpus data/spoof --out runs/spoof-seeds --recipe recipes/spoof/small-seeds.yaml
  leanspeech study spoof --corpus /data/ASVspoof2019/LA --out runs/spoof-full --recipe recipes/spoof/full.yaml
  leanspeech study spoof --corpus data/spoof --out runs/spoof-quick --quick

The corpus is a folder in the ASVspoof 2019 LA layout (the real one, or one built by `data build
--task spoof`). Trains RN34, then DRN34 runs (all stacks BX, single stacks B0..B3) branching off it,
selects each on the dev EER, consolidates, scores the eval split and profiles; `seeds: N` in the recipe
repeats all of it for N seeds. Writes results.csv (per model: EER overall and per attack, mean ± std over
seeds, parameters, FLOP/s and the share saved against RN34, learned channels per stack), runs.csv (per
model and seed), results.json and eer_vs_flops.png (the paper's Fig. 8); re-running resumes (finished
runs are reused, a killed one goes on from its last dev evaluation). A recipe may then list more seeds
or other DRN34 runs; an --out made with other training settings or another corpus is refused.
"""

QUICK = dict(fixed_steps=2, width_steps=2, eval_every=2, all_stacks_min_fractions=(0.25,), single_stacks=("B3",),
             channels=(4, 4, 8, 8), segment_seconds=0.5, profile_seconds=0.5)


def add_spoof_parser(names: argparse._SubParsersAction) -> None:
    spoof = names.add_parser(
        "spoof", help="ResNet34 vs DynResNet34 anti-spoofing countermeasures (width paper, case study 3)",
        description="Train ResNet34 and DynResNet34 countermeasures whose residual stacks learn their channel counts, "
                    "and compare EER (overall and per unseen attack) against parameters and FLOP/s.",
        epilog=SPOOF_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    spoof.add_argument("--corpus", required=True, help="folder in the ASVspoof 2019 LA layout")
    spoof.add_argument("--out", required=True, help="output folder (created; an existing one is resumed)")
    spoof.add_argument("--recipe", help="study recipe YAML (default: recipes/spoof/small.yaml's values)")
    spoof.add_argument("--quick", action="store_true", help="a tiny smoke run (a few steps, narrow model, 2 variants)")
    spoof.set_defaults(run=run_spoof_study_command)


def run_spoof_study_command(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from leanspeech.studies.spoof import SpoofStudyConfig, run_spoof_study

    config = SpoofStudyConfig.from_yaml(args.recipe) if args.recipe else SpoofStudyConfig()
    if args.quick:
        config = SpoofStudyConfig.from_dict({**QUICK, "train": {"batch_size": 8, "width_lr": 2e-2, "num_workers": 0}})
    summary = run_spoof_study(config, args.corpus, args.out)
    table = Table(title=f"anti-spoofing study ({args.corpus}, {config.seeds} seed(s): means)")
    for column in ("model", "eval EER", "± std", "dev EER", "params", "MFLOP/s", "saved", "channels (first seed)"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in summary["results"]:
        table.add_row(r["name"], f"{100 * r['eer']:.2f} %", f"{100 * r['eer_std']:.2f}", f"{100 * r['dev_eer']:.2f} %",
                      f"{r['params']:,.0f}", f"{r['flops_per_second'] / 1e6:.1f}", f"{100 * r['flops_saved']:.0f} %",
                      " ".join(map(str, r["channels"])))
    console = Console()
    console.print(table)
    console.print(f"report: {args.out}/results.csv, runs.csv, results.json, eer_vs_flops.png  "
                  f"({summary['wall_seconds']:.0f} s)")
    return 0

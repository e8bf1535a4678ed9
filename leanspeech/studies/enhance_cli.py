"""`leanspeech study enhance`: the D-GRU enhancement study from the command line."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

EXAMPLES = """examples:
  leanspeech study enhance --corpus data/corpus --out runs/enhance-small --recipe recipes/enhance/gru-small.yaml
  leanspeech study enhance --corpus data/tiny --out runs/enhance-quick --quick
  leanspeech study enhance --corpus data/corpus --out runs/enhance-p --percents 100 50 --no-dnsmos

The corpus is a `leanspeech data build` folder (speech and noise split by speaker and recording); it is
built first (--corpus-minutes of speech) when the folder holds no manifest.csv. Re-running with the same
--out reuses the test sets, finished training runs and cached scores. Writes README.md (Tables 1 and 2
of the paper), results.csv, significance.csv, delta_pesq.csv, results.json, delta_pesq.png (Fig. 2),
pesq_box.png, the models under runs/ and a few enhanced clips under examples/.
"""


def add_enhance_parser(names: argparse._SubParsersAction) -> None:
    parser = names.add_parser(
        "enhance", help="D-GRU speech enhancement: quality and MAC/s at P = 100/75/50/25 (D-GRU paper)",
        description="Pretrain a GRU enhancement host, fine-tune it as D-GRU at each update percentage P, and "
                    "score every P, the noisy input and RNNoise on held-out test sets (PESQ, ESTOI, SI-SNR, "
                    "DNSMOS, Mann-Whitney tests, ΔPESQ per SNR, MAC/s split).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--corpus", required=True, help="corpus folder (built when it holds no manifest.csv)")
    parser.add_argument("--out", required=True, help="output folder (created; an existing one is resumed)")
    parser.add_argument("--recipe", help="study YAML (keys of EnhanceStudyConfig); default: the built-in settings")
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run (hidden 32, a few dozen steps, no DNSMOS)")
    parser.add_argument("--percents", type=float, nargs="+", help="update percentages P (default 100 75 50 25)")
    parser.add_argument("--hidden", type=int, help="hidden size of the host (default 128; the paper's 320)")
    parser.add_argument("--pretrain-steps", type=int, help="dense pretraining steps")
    parser.add_argument("--finetune-steps", type=int, help="fine-tuning steps per P")
    parser.add_argument("--no-dnsmos", action="store_true", help="skip DNSMOS OVRL (its first call takes ~15 s)")
    parser.add_argument("--corpus-minutes", type=float, default=20.0, help="speech minutes when building (default 20)")
    parser.set_defaults(run=run_enhance_study_command)


def run_enhance_study_command(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from leanspeech.data.corpus import build_corpus
    from leanspeech.studies.enhance import EnhanceStudyConfig, run_enhance_study
    from leanspeech.studies.enhance_report import result_rows, target_check

    config = EnhanceStudyConfig.from_yaml(args.recipe) if args.recipe else EnhanceStudyConfig()
    if args.quick:
        config = EnhanceStudyConfig.quick()
    overrides = {"percents": tuple(args.percents) if args.percents else None,
                 "pretrain_steps": args.pretrain_steps, "finetune_steps": args.finetune_steps,
                 "dnsmos": False if args.no_dnsmos else None,
                 "model": {**config.model, "hidden": args.hidden} if args.hidden else None}
    config = config.with_overrides(**overrides)
    if not (Path(args.corpus) / "manifest.csv").is_file():
        build_corpus(args.corpus, minutes=args.corpus_minutes, seed=config.seed, task="vad")
    summary = run_enhance_study(config, args.corpus, args.out)
    table = Table(title=f"D-GRU study, {config.host} {config.model}")
    for column in ("condition", "GRU MMAC/s", "all MMAC/s", "PESQ", "ESTOI %", "SI-SNR dB", "DNSMOS"):
        table.add_column(column, justify="right")
    for row in result_rows(summary):
        cells = [row["mmacs_gru"], row["mmacs_all_layers"], row["pesq"], 100 * row["estoi"], row["si_snr"],
                 row["dnsmos_ovrl"]]
        table.add_row(row["condition"], *("–" if v is None or math.isnan(v) else f"{v:.2f}" for v in cells))
    console = Console()
    console.print(table)
    console.print(target_check(summary))
    console.print(f"report: {Path(args.out) / 'README.md'}")
    return 0

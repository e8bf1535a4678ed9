"""`leanspeech study quality`: the BAM / int8 PESQ-prediction study (bam-qat-sqp.md) from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

QUALITY_EXAMPLES = """examples:
  leanspeech data build --out data/corpus --minutes 3
  leanspeech study quality --corpus data/corpus --out runs/quality-small --recipe recipes/quality/small.yaml
  leanspeech study quality --corpus data/corpus --out runs/quality-quick --quick

Writes results.csv and results.json (per variant: test MSE and PCC mean ± std over seeds, parameters,
MACs and binary MACs, activation bytes per sample, file size, latency ratio to fp32 channels_last),
metrics.png (the paper's Fig. 2), predictions.png (Fig. 3), and the labelled segments and trained runs
(re-running resumes: cached labels, finished runs and features are reused).
"""

# A smoke run: tiny clips and segments, two epochs, no DNSMOS (its first call takes ≈15 s).
QUICK = {
    "seeds": 1, "latency_repeats": 3, "dnsmos": False, "train": {"epochs": 2},
    "data": {"clip_seconds": 4.0, "train_clips": 6, "test_clips": 2, "val_fraction": 0.25,
             "segments": {"segment_seconds": 3.0, "stride_seconds": 1.0}},
}


def add_quality_parser(names: argparse._SubParsersAction) -> None:
    parser = names.add_parser(
        "quality", help="binary activation maps and int8 for PESQ prediction (bam-qat-sqp.md)",
        description="Label noisy segments with WB-PESQ, train the DNSMOS CNN in fp32, with binary activation maps "
                    "(QAT) and with binary weights; binarize and int8-quantize after training; compare quality, "
                    "memory, operations, size and CPU latency, and DNSMOS as the peer.",
        epilog=QUALITY_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--corpus", required=True, type=Path, help="corpus folder (leanspeech data build)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (created; re-runs resume)")
    parser.add_argument("--recipe", type=Path, help="study recipe (recipes/quality/*.yaml); default: the paper's")
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run (3 s segments, 2 epochs, 1 seed)")
    parser.set_defaults(run=run_quality)


def run_quality(args: argparse.Namespace) -> int:
    from leanspeech.studies.quality import QualityStudyConfig, run_quality_study
    from leanspeech.studies.quality_report import result_rows

    if args.quick:
        config = QualityStudyConfig.from_dict(QUICK, "--quick")
    elif args.recipe:
        config = QualityStudyConfig.from_yaml(args.recipe)
    else:
        config = QualityStudyConfig()
    summary = run_quality_study(config, args.corpus, args.out)
    table = Table(title=f"PESQ prediction: {summary['segments']['test']} test segments, {config.seeds} seed(s)")
    for column in ("variant", "test MSE", "test PCC", "act. bytes", "× smaller", "binary MACs", "file bytes", "latency ×"):
        table.add_column(column, justify="right")
    for row in result_rows(summary):
        latency = f"{row['latency_ratio']:.2f}" if row["latency_ratio"] is not None else "—"
        table.add_row(row["variant"], f"{row['test_mse']:.3f} ± {row['test_mse_std']:.3f}",
                      f"{row['test_pcc']:.3f} ± {row['test_pcc_std']:.3f}", f"{row['activation_bytes']:,}",
                      f"{row['activation_reduction']:.1f}", f"{row['binary_macs']:.3g}", f"{row['file_bytes']:,}", latency)
    console = Console()
    console.print(table)
    console.print(f"wall time {summary['wall_seconds'] / 60:.1f} min; results in {args.out}")
    return 0

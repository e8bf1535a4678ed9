"""`leanspeech demo`: the VAD performance/complexity study end to end (width-noise-injection.md §V)."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

EXAMPLES = """examples:
  leanspeech data build --out data/corpus --minutes 10 && leanspeech demo --corpus data/corpus
  leanspeech demo --corpus data/corpus --out reports/demo --quick
  leanspeech demo --corpus data/big --recipe recipes/vad/full.yaml --out reports/vad-full

Trains CRNNVAD and DynCRNNVAD at four minimum widths (two phases, β = 0.5), consolidates them, scores
them and Silero VAD / WebRTC VAD on one fixed test set, and writes OUT/report/: README.md (table),
results.csv, metrics.json, eer_vs_flops.png (Fig. 5), spp_traces.png (Fig. 6). Models are in
OUT/runs/<name>/ (model.pt as trained, consolidated.pt). Re-running resumes: finished runs, the test
set and peer scores are reused. The default size (recipes/vad/demo.yaml) takes about 15 minutes on
2 CPU cores.
"""

# The quick size: seconds, for smoke tests; its numbers mean nothing.
QUICK = {"fixed_steps": 3, "width_steps": 3, "test_clips": 8, "test_seconds": 2.0, "segment_seconds": 1.0, "conv_channels": 16,
         "gru_hidden": 16, "train": {"batch_size": 4, "num_workers": 0, "width_lr": 0.05}}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the VAD trade-off study and write a report",
        description="Run the VAD performance/complexity study (width-noise-injection.md case study 2) "
                    "on a corpus built by `leanspeech data build` and write a report folder.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--corpus", required=True, help="corpus folder with manifest.csv (leanspeech data build)")
    parser.add_argument("--out", default="reports/demo", help="output folder (default reports/demo)")
    parser.add_argument("--recipe", help="study recipe YAML (default: the demo size, as in recipes/vad/demo.yaml)")
    parser.add_argument("--quick", action="store_true", help="a tiny run (seconds) for smoke tests")
    parser.add_argument("--rt60-max", type=float, help="upper end of the RT60 range (default 1.5 s, the paper's)")
    parser.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from leanspeech.studies.vad import VadStudyConfig, run_vad_study

    config = VadStudyConfig.from_yaml(args.recipe) if args.recipe else VadStudyConfig()
    if args.quick:
        config = VadStudyConfig.from_dict({**asdict(config), **QUICK})
    if args.rt60_max is not None:
        config.mixing = {**config.mixing, "rt60_range": [0.0, args.rt60_max]}
    run_vad_study(config, args.corpus, args.out)
    print(f"report: {Path(args.out) / 'report' / 'README.md'}")
    return 0

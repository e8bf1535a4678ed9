"""`leanspeech study sqa`: distillation and pruning of a speech-quality teacher (distill-prune-sqa.md)."""

from __future__ import annotations

import argparse

from rich.console import Console

SQA_EXAMPLES = """examples:
  leanspeech study sqa --corpus data/sqa --out runs/sqa --quick
  leanspeech study sqa --recipe recipes/sqa/full.yaml --corpus data/sqa --out runs/sqa-full
  leanspeech study sqa --recipe recipes/sqa/large-hints-logit.yaml --corpus data/sqa360g --out runs/lhl --seeds 6

Builds the sqa-unlabeled corpus in --corpus if it has no manifest. Writes results.csv/json and table.md
(Table I layout: teacher, DNSMOS, labeled-only, distilled, pruned), mix_grid.csv, pcc_vs_params.png
(Fig. 3), conditions.csv (each distilled student's agreement with the teacher per speaker, room, enhancer,
vocoder and codec, on the test clips and on the unlabeled training clips it was distilled on) and the
teacher-vs-student latency; re-running reuses labels and finished models. With --seeds N every student
and baseline is trained N times (seeds seed … seed + N − 1; the first seed's student is pruned and timed)
and table.md adds their mean ± sd (min–max): between seeds agreement moves by about ±0.01, as much as
many differences between variants. More seeds may be added to a finished study folder.
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
    sqa.add_argument("--quick", action="store_true", help="the CPU-sized run (3 sizes, p in {0, 0.2}, 400 steps on 2 s windows; ≈ 25 min)")
    sqa.add_argument("--teacher", help="distill-mos, a leanspeech quality model file or an XLS-R-SQA teacher.pt from "
                                       "`study sqa-teacher` (overrides the recipe)")
    sqa.add_argument("--seeds", type=int, help="train every student and baseline with this many seeds (overrides the "
                                            "recipe's `seeds`; default 1)")
    sqa.add_argument("--workers", type=int, default=2, help="processes for corpus building (default 2)")
    sqa.set_defaults(run=run_sqa)


def run_sqa(args: argparse.Namespace) -> int:
    from leanspeech.studies.sqa import SqaStudyConfig, run_sqa_study

    overrides = {key: value for key, value in (("teacher", args.teacher), ("seeds", args.seeds)) if value is not None}
    if args.recipe:
        config = SqaStudyConfig.from_yaml(args.recipe, quick=args.quick)
        config = SqaStudyConfig(**{**config.__dict__, **overrides})
    else:
        config = SqaStudyConfig.quick(**overrides) if args.quick else SqaStudyConfig(**overrides)
    result = run_sqa_study(config, args.corpus, args.out, workers=args.workers)
    console = Console()
    console.print(result["table"], markup=False, soft_wrap=True)  # a wrapped markdown table is unreadable
    latency = result["latency"]
    teacher_ms = 1e3 * latency["teacher"]["median_s"]
    for size, timing in latency["students"].items():
        console.print(f"latency at batch 1 on {latency['audio_seconds']} s: teacher {teacher_ms:.1f} ms, student {size} "
                      f"{1e3 * timing['median_s']:.1f} ms, {timing['speedup']:.1f}x faster "
                      f"(medians of {latency['repeats']}, interleaved)")
    for kind, path in result["paths"].items():
        console.print(f"{kind}: {path}")
    return 0

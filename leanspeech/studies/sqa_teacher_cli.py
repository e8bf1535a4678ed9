"""`leanspeech study sqa-teacher`: the XLS-R-SQA teacher trained on labeled MOS data (distill-prune-sqa.md §IV-A)."""

from __future__ import annotations

import argparse
import dataclasses

EXAMPLES = """examples:
  leanspeech study sqa-teacher --recipe recipes/sqa-teacher/xlsr-2b-l10.yaml --wav2vec2 /models/wav2vec2-xls-r-2b \\
      --manifest data/nisqa/manifest.csv --manifest data/tencent/manifest.csv --out runs/xlsr-teacher --device cuda
  leanspeech study sqa --teacher runs/xlsr-teacher/teacher.pt --corpus data/sqa --out runs/sqa-xlsr

Manifests: leanspeech manifests with a MOS column (default `mos`) and splits train / dev / test, e.g. from a
CSV of path,mos,split via the `table` reader; a clip's dataset is its `dataset` column, else its `source`.
The wav2vec2 directory is read locally (never downloaded); it needs pip install "leanspeech[sqa]".
Writes teacher.pt (head, per-dataset and universal scale/shift; the embedding model stays in its
directory), metrics.json (dev MSE per validation, test PCC per dataset), training.png (train and dev MSE
by step), failures.jsonl (unreadable clips) and features/ (the cached frames); with `prune_sparsities` in
the recipe also pruned/teacher-<percent>.pt, the XLS-R-PruneMOS family. A killed run resumes.
"""


def add_sqa_teacher_parser(names: argparse._SubParsersAction) -> None:
    parser = names.add_parser(
        "sqa-teacher", help="train the XLS-R-SQA teacher on labeled MOS data (distill-prune-sqa §IV-A)",
        description="Train the XLS-R-SQA head (transformer d 32, 4 heads, 4 layers, attention pooling) on layer-L "
                    "frames of a local, frozen wav2vec2 / XLS-R model, with per-dataset scale and shift of the "
                    "logits (bias-aware), then grid-search the universal pair and score the test clips.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", action="append", required=True, help="labeled manifest (repeat for more datasets)")
    parser.add_argument("--out", required=True, help="output folder (a finished run is reloaded, a killed one resumed)")
    parser.add_argument("--recipe", help="YAML recipe (recipes/sqa-teacher/xlsr-2b-l10.yaml: the paper's settings)")
    parser.add_argument("--wav2vec2", help="local wav2vec2 / XLS-R model directory (overrides the recipe)")
    parser.add_argument("--steps", type=int, help="training steps (default 72000, the paper's)")
    parser.add_argument("--val-every", type=int, help="steps between validations (default 3000)")
    parser.add_argument("--device", help="where the embedding model runs: cpu (default) or cuda")
    parser.set_defaults(run=run_sqa_teacher)


def run_sqa_teacher(args: argparse.Namespace) -> int:
    from leanspeech.studies.sqa_teacher_train import XlsrTeacherTraining, train_xlsr_teacher

    settings = XlsrTeacherTraining.from_yaml(args.recipe) if args.recipe else XlsrTeacherTraining()
    overrides = {"wav2vec2": args.wav2vec2, "steps": args.steps, "val_every": args.val_every, "device": args.device}
    settings = dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    _, metrics = train_xlsr_teacher(settings, args.manifest, args.out)
    universal = metrics["universal"]
    print(f"kept step {metrics['best_step']} (weighted dev MSE {metrics['dev_mse']:.3f}); universal scale "
          f"{universal['scale']:.3f}, shift {universal['shift']:.3f}")
    for row in metrics["test"]:
        print(f"test {row['dataset']}: {row['clips']} clips, PCC {row['pcc']:.3f}, MSE {row['mse']:.3f}")
    print(f"teacher: {args.out}/teacher.pt  (leanspeech study sqa --teacher {args.out}/teacher.pt ...)")
    return 0

"""Where does Distill-MOS put each recorded speaker before any degradation, and what does GSM cost?

The held-out human test clips of an `sqa-unlabeled` corpus come from two speakers, and a student that
misjudges one speaker's level loses pooled agreement it keeps within each speaker. This scores clean
~6 s clips of each recorded speaker's prompts (the corpus's converted prompts, concatenated with 0.3 s
gaps) with the teacher, as they are and after a GSM 06.10 round trip (the chain's `gsm-8k` codec), and
prints mean ± sd per speaker. Two of the speakers (es-co, armelle) arrive GSM-coded from their packages.
With `--students`, saved quality students score the same clean clips (the mean over back-to-back windows
of `--window-seconds`, as the study scores): where a student puts each voice against the teacher.

    python bench/sqa_speaker_levels.py --corpus data/sqa360g --clips 24
    python bench/sqa_speaker_levels.py --corpus data/sqa360g --clips 12 --students runs/X/models/distilled-xs-p0/model.pt
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from leanspeech.audio.io import load_audio
from leanspeech.data.degrade import gsm_610
from leanspeech.data.manifest import read_manifest
from leanspeech.models.io import load_model
from leanspeech.peers.distill_mos import MODEL_RATE, DistillMos
from leanspeech.studies.sqa_train import FRAME_RATE, predict

CLIP_SECONDS, GAP_SECONDS = 6.0, 0.3


def clean_clips(paths: list[str], count: int) -> list[np.ndarray]:
    """Up to `count` clips of CLIP_SECONDS, each prompts back to back with short gaps, in manifest order."""
    clips, pieces, gap = [], [], np.zeros(int(GAP_SECONDS * MODEL_RATE), np.float32)
    for path in paths:
        pieces += [load_audio(path, sample_rate=MODEL_RATE)[0], gap]
        if sum(map(len, pieces)) >= CLIP_SECONDS * MODEL_RATE:
            clips.append(np.concatenate(pieces)[:int(CLIP_SECONDS * MODEL_RATE)])
            pieces = []
            if len(clips) == count:
                break
    return clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True, help="an sqa-unlabeled corpus folder (leanspeech data build)")
    parser.add_argument("--clips", type=int, default=24, help="clean clips per speaker")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--students", nargs="*", default=[], help="saved quality students (model.pt) to score too")
    parser.add_argument("--window-seconds", type=float, default=2.0, help="the students' scoring window")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    prompts: dict[tuple[str, str], list[str]] = {}
    for entry in read_manifest(f"{args.corpus}/manifest.csv", kind="speech"):
        if entry.source == "ivr-prompts":
            prompts.setdefault((entry.split, entry.speaker), []).append(str(entry.resolve(args.corpus)))
    if not prompts:
        raise SystemExit(f"{args.corpus}/manifest.csv lists no recorded prompts (source ivr-prompts)")
    teacher = DistillMos()
    students = [load_model(path).eval() for path in args.students]
    frames = round(args.window_seconds * FRAME_RATE)
    print(f"{'split':6s} {'speaker':8s} {'clips':>5s}  {'teacher, clean':>15s}  {'after GSM 06.10':>15s}"
          + "".join(f"  student {k}, clean" for k in range(1, len(students) + 1)))
    for (split, speaker), paths in sorted(prompts.items(), key=lambda item: ("train", "dev", "test").index(item[0][0])):
        clips = clean_clips(paths, args.clips)
        clean = np.array(teacher.score_batch(clips, MODEL_RATE, progress=False))
        coded = np.array(teacher.score_batch([gsm_610(c, MODEL_RATE) for c in clips], MODEL_RATE, progress=False))
        scored = [predict(s, [s.features(torch.from_numpy(c)[None])[0] for c in clips], frames, frames).numpy()
                  for s in students]
        print(f"{split:6s} {speaker:8s} {len(clips):5d}  {clean.mean():6.2f} ± {clean.std():.2f}   "
              f"{coded.mean():6.2f} ± {coded.std():.2f}" + "".join(f"   {s.mean():7.2f} ± {s.std():.2f}" for s in scored))


if __name__ == "__main__":
    main()

"""How far can a student that scores short windows agree with Distill-MOS at all?

The SQA students score a clip as the mean over back-to-back windows (recipes/sqa: 2 s), the teacher
scores the whole clip (one 7.68 s crop). Even a student that reproduced the teacher exactly on every
window would agree with the teacher's whole-clip score only as well as the mean of the teacher's own
window scores does. This prints that PCC, per window length, on the held-out degraded human clips of an
`sqa-unlabeled` corpus (clips longer than 8 s keep their centre 8 s, as the study's features do).

    python bench/sqa_window_ceiling.py --corpus data/sqa --clips 150 --windows 2 4
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from tqdm import tqdm

from leanspeech.audio.io import load_audio
from leanspeech.data.manifest import read_manifest
from leanspeech.data.windows import window_starts
from leanspeech.metrics import pcc
from leanspeech.peers.distill_mos import MODEL_RATE, DistillMos

CLIP_SECONDS = 8.0  # SqaStudyConfig.crop_seconds in every recipe


def back_to_back(wav: np.ndarray, window: int) -> list[np.ndarray]:
    """Windows of `window` samples placed as the students score (`score_overlap: 0`): back to back, the
    last one ending at the clip's end; a clip shorter than one window is one window."""
    return [wav[start:start + window] for start in window_starts(len(wav), window, window)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True, help="an sqa-unlabeled corpus folder (leanspeech data build)")
    parser.add_argument("--clips", type=int, default=150, help="the first N held-out human test clips")
    parser.add_argument("--windows", type=float, nargs="+", default=[2.0, 4.0], help="window lengths in seconds")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    entries = [e for e in read_manifest(f"{args.corpus}/manifest.csv", kind="degraded")
               if e.split == "test" and e.extra.get("speech_type") == "human"][:args.clips]
    teacher = DistillMos()
    whole, windowed = [], {seconds: [] for seconds in args.windows}
    for entry in tqdm(entries, desc="clips", unit="clip"):
        wav, _ = load_audio(entry.resolve(args.corpus), sample_rate=MODEL_RATE)
        start = max(0, (len(wav) - int(CLIP_SECONDS * MODEL_RATE)) // 2)
        wav = wav[start:start + int(CLIP_SECONDS * MODEL_RATE)]
        whole.append(teacher.score(wav, MODEL_RATE))
        for seconds in args.windows:
            scores = teacher.score_batch(back_to_back(wav, int(seconds * MODEL_RATE)), MODEL_RATE, progress=False)
            windowed[seconds].append(float(np.mean(scores)))
    for seconds, means in windowed.items():
        print(f"{len(whole)} clips: PCC(teacher on the clip, mean of the teacher on {seconds:g} s windows) = "
              f"{pcc(np.array(means), np.array(whole)):.3f}")


if __name__ == "__main__":
    main()

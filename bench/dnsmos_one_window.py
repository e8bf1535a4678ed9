"""What scoring a short clip as one tiled DNSMOS window (`metrics.dnsmos.one_window`) saves and changes.

speechmos doubles a clip shorter than its 9.01 s window until it fills it and scores every 1 s hop over
the doubled audio (a 7.2 s clip: 5 windows). leanspeech tiles the clip to exactly one window instead.
On the first N degraded test clips of an `sqa-unlabeled` corpus this prints, for P.835 OVRL, the PCC and
mean / largest absolute difference between the two, and seconds per clip of each (interleaved per clip,
min/median/max) with the median ratio.

    python bench/dnsmos_one_window.py --corpus data/sqa --clips 40
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch

from leanspeech.audio.io import load_audio
from leanspeech.data.manifest import read_manifest
from leanspeech.metrics import pcc
from leanspeech.metrics.dnsmos import DNSMOS_RATE, one_window
from leanspeech.peers.dnsmos import Dnsmos
from leanspeech.report.timing import interleaved_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True, help="an sqa-unlabeled corpus folder (leanspeech data build)")
    parser.add_argument("--clips", type=int, default=40, help="the first N degraded test clips")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    entries = [e for e in read_manifest(f"{args.corpus}/manifest.csv", kind="degraded") if e.split == "test"]
    speechmos = Dnsmos()._model  # speechmos's own DNSMOS class: its doubling and hopping untouched
    speechmos(np.full(DNSMOS_RATE * 10, 1e-3, np.float32), DNSMOS_RATE, False)  # numba compiles librosa's mel: ≈15 s
    scores: dict[str, list[float]] = {"doubled and hopped": [], "one window": []}
    seconds: dict[str, list[float]] = {name: [] for name in scores}
    for entry in entries[:args.clips]:
        wav, _ = load_audio(entry.resolve(args.corpus), sample_rate=DNSMOS_RATE)
        wav = np.clip(wav, -1.0, 1.0)
        inputs = {"doubled and hopped": wav, "one window": one_window(wav, DNSMOS_RATE)}
        calls = {name: (lambda audio=audio, name=name: scores[name].append(
            float(speechmos(audio, DNSMOS_RATE, False)["ovrl_mos"]))) for name, audio in inputs.items()}
        for name, times in interleaved_times(calls, repeats=1, warmup=0).items():
            seconds[name] += times
    old, new = np.array(scores["doubled and hopped"]), np.array(scores["one window"])
    print(f"{len(old)} clips, OVRL: PCC {pcc(new, old):.3f}, mean |difference| {np.mean(np.abs(new - old)):.3f}, "
          f"largest {np.max(np.abs(new - old)):.3f}")
    for name, times in seconds.items():
        print(f"{name}: {min(times):.3f} / {statistics.median(times):.3f} / {max(times):.3f} s a clip (min/median/max)")
    ratio = statistics.median(seconds["doubled and hopped"]) / statistics.median(seconds["one window"])
    print(f"median ratio: {ratio:.1f}x")


if __name__ == "__main__":
    main()

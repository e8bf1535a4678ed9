"""How many times faster than real time does on-the-fly mixing run?

Mixes fixed-length crops with every stage of the chain switched on (reverberation, noise, gain,
4 kHz low-pass, 8 kHz μ-law telephone channel, frame labels) through a DataLoader with worker
processes, and prints audio seconds produced per wall-clock second: median, min and max over
repetitions. Without --corpus it first writes a small synthetic corpus (harmonic speech-like tones,
white/pink/brown noise, RIRs simulated by pyroomacoustics) into a temporary folder.

    python bench/mixing_throughput.py                      # synthetic corpus, 2 workers
    python bench/mixing_throughput.py --corpus data/vad --split train --seconds 20 --repeats 5
    python bench/mixing_throughput.py --profile            # where the time goes, in one process
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyroomacoustics as pra
from torch.utils.data import DataLoader

from leanspeech.audio.io import save_audio
from leanspeech.data.datasets import MixtureDataset
from leanspeech.data.manifest import ManifestEntry, write_manifest

RATE = 16000
FULL_CHAIN = {"reverb_prob": 1.0, "rt60_range": [0.0, 2.0], "noise_prob": 1.0, "gain_db_range": [-10, 5],
              "lowpass_prob": 1.0, "telephone_prob": 1.0}


def coloured_noise(rng: np.random.Generator, samples: int, exponent: float) -> np.ndarray:
    """Noise with power ∝ 1/f^exponent (0 white, 1 pink, 2 brown), at 0.05 RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    freqs = np.maximum(np.fft.rfftfreq(samples), 1.0 / samples)
    wav = np.fft.irfft(spectrum / freqs ** (exponent / 2), samples)
    return 0.05 * wav / wav.std()


def simulated_rir(rt60: float, seed: int) -> np.ndarray:
    room_dim = [6.0 + seed % 3, 4.5, 3.0]
    absorption, max_order = pra.inverse_sabine(rt60, room_dim)
    room = pra.ShoeBox(room_dim, fs=RATE, materials=pra.Material(absorption), max_order=min(max_order, 30))
    room.add_source([1.5, 1.2 + 0.3 * (seed % 4), 1.6])
    room.add_microphone([4.0, 3.0, 1.2])
    room.compute_rir()
    return np.asarray(room.rir[0][0], dtype=np.float32)


def write_synthetic_corpus(root: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    entries = []

    def add(name: str, wav: np.ndarray, kind: str, speaker: str) -> None:
        wav = wav.astype(np.float32)
        save_audio(root / name, wav, RATE)
        entries.append(ManifestEntry(name, kind, "train", speaker, "synthetic", len(wav) / RATE, RATE))

    for i in range(24):
        t = np.arange(int(rng.uniform(3, 8) * RATE)) / RATE
        f0 = rng.uniform(90, 250) * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
        phase = 2 * np.pi * np.cumsum(f0) / RATE
        voiced = sum(np.sin(k * phase) / k for k in range(1, 25)) * (np.sin(2 * np.pi * 2.5 * t) > -0.3)
        add(f"speech/s{i:02d}.wav", 0.08 * voiced, "speech", f"spk{i % 6}")
    for i, exponent in enumerate([0.0, 1.0, 2.0, 1.0]):
        add(f"noise/n{i}.wav", coloured_noise(rng, 30 * RATE, exponent), "noise", f"noise{i}")
    for i, rt60 in enumerate(np.linspace(0.2, 1.2, 8)):
        add(f"rir/r{i}.wav", simulated_rir(float(rt60), i), "rir", f"room{i}")
    write_manifest(root / "manifest.csv", entries)
    return root


def measure(data: MixtureDataset, workers: int, batch_size: int, seconds: float, repeats: int) -> list[float]:
    loader = DataLoader(data, batch_size=batch_size, num_workers=workers, persistent_workers=workers > 0,
                        prefetch_factor=4 if workers else None)
    rates = []
    for _ in range(repeats):
        batches = iter(loader)
        next(batches)  # worker start-up and the first batch are not throughput
        produced, start = 0.0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            batch = next(batches)
            produced += batch["mixture"].numel() / RATE
        rates.append(produced / (time.perf_counter() - start))
    return rates


def cpu_rate(data: MixtureDataset, items: int = 100) -> float:
    """Audio seconds per CPU second of this process: what one core gives, less sensitive to a busy machine."""
    start = time.process_time()
    produced = sum(data[i]["mixture"].numel() for i in range(items)) / RATE
    return produced / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, help="corpus folder with manifest.csv (default: synthetic)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--segment", type=float, default=4.0, help="crop length in seconds")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per repetition")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="profile 100 items in this process instead")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = args.corpus or write_synthetic_corpus(Path(tmp))
        data = MixtureDataset(root, args.split, mixing=FULL_CHAIN, segment_seconds=args.segment,
                              items_per_epoch=1_000_000)
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(lambda: [data[i] for i in range(100)])
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(20)
            return
        per_core = cpu_rate(data)
        rates = measure(data, args.workers, args.batch_size, args.seconds, args.repeats)
    print(f"mixing throughput, full chain, {args.segment:g} s crops, {args.workers} workers, "
          f"{args.repeats} x {args.seconds:g} s: median {statistics.median(rates):.0f}x real time "
          f"(min {min(rates):.0f}x, max {max(rates):.0f}x); one core by CPU time: {per_core:.0f}x real time")


if __name__ == "__main__":
    main()

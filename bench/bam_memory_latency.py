"""Binary activation maps and int8 on the DNSMOS CNN (bam-qat-sqp.md): memory and CPU latency per clip.

Memory: bytes of the activation arrays one 9 s clip (449 × 120 log-mel) holds, measured from real
arrays — the eager fp32 model's tensors vs the bit-packed runtime's (1-bit maps; input float32 or
uint8). Latency: fp32 in channels_last vs the x86 int8 static-PTQ model — with leanspeech's fused native
first layer (runtime/int8_stem.py, where the CPU has AVX-512 VNNI) and with PyTorch's kernels only — and
the BAM model with int8 weights, per clip at each batch size (a batch of one clip, as a streaming device sees it; a batch of 32,
as when scoring a test set), interleaved repetitions, median/min/max in ms per clip and the int8/fp32
ratio. Random weights: cost does not depend on them. Absolute times are local figures; compare the ratios.

    python bench/bam_memory_latency.py                # 30 interleaved repetitions, torch threads as set
    python bench/bam_memory_latency.py --repeats 100 --threads 1 --batch 1 32
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from leanspeech.compress.quantize import quantize_static
from leanspeech.models.quality_cnn import QualityCNN
from leanspeech.runtime import native
from leanspeech.runtime.bitpacked import BitpackedQualityCNN, torch_activation_memory
from leanspeech.runtime.int8_stem import Int8Stem

FRAMES, MELS = 449, 120


def _log_mels(batch: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, MELS, FRAMES, generator=g) * 3 - 10


def memory() -> None:
    x = _log_mels(1, 0)
    fp32 = torch_activation_memory(QualityCNN().eval(), x)
    bam = QualityCNN(activation="BinaryActivation", pool="avg").eval()
    print(f"activation memory per 9 s clip ({FRAMES}x{MELS}), bytes from real arrays")
    print(f"  fp32 eager PyTorch         peak {fp32.peak_bytes:>10,}  total {fp32.total_bytes:>10,}")
    for bits in (32, 8):
        _, ledger = BitpackedQualityCNN.from_model(bam, input_bits=bits).run(x[0].numpy())
        print(f"  bit-packed, {bits:>2}-bit input  peak {ledger.peak_bytes:>10,}  total {ledger.total_bytes:>10,}"
              f"  ratio peak {fp32.peak_bytes / ledger.peak_bytes:5.1f}x  total {fp32.total_bytes / ledger.total_bytes:5.1f}x")


def latency(repeats: int, batch_sizes: list[int]) -> None:
    calibration = [_log_mels(8, seed) for seed in range(1, 4)]  # stands in for 20 % of the training set
    fp32 = QualityCNN().eval().to(memory_format=torch.channels_last)
    candidates = {
        "fp32 channels_last": fp32,
        "int8 (x86 static PTQ)": quantize_static(QualityCNN().eval(), calibration),
        "int8, PyTorch kernels": quantize_static(QualityCNN().eval(), calibration, fuse_stem=False),
        "BAM + int8": quantize_static(QualityCNN(activation="BinaryActivation", pool="avg").eval(), calibration,
                                      observer="minmax"),
    }
    fused = [m for m in candidates["int8 (x86 static PTQ)"].modules() if isinstance(m, Int8Stem)]
    stem = f"yes ({native.stem_variant()})" if fused else f"no ({native.stem_variant() or native.unavailable_reason})"
    for batch in batch_sizes:
        x = _log_mels(batch, 0)
        times: dict[str, list[float]] = {name: [] for name in candidates}
        with torch.inference_mode():
            for model in candidates.values():  # warm-up
                model(x)
            for _ in range(repeats):
                for name, model in candidates.items():
                    start = time.perf_counter()
                    model(x)
                    times[name].append(1000 * (time.perf_counter() - start) / batch)
        base = statistics.median(times["fp32 channels_last"])
        print(f"CPU latency per clip at batch {batch}, {repeats} interleaved repetitions, "
              f"{torch.get_num_threads()} threads (ms); fused int8 stem: {stem}")
        for name, values in times.items():
            median = statistics.median(values)
            print(f"  {name:<24} median {median:7.2f}  min {min(values):7.2f}  max {max(values):7.2f}"
                  f"  ratio to fp32 {median / base:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32], help="clips per call (default 1 32)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    memory()
    latency(args.repeats, args.batch)


if __name__ == "__main__":
    main()

"""D-GRU streaming latency on one core, for each runtime mode (weights fp32, fp16, int8 with float
activations; w8a8 = int8 weights and 8-bit activations, integer dot products): P = 75/50/25 vs P = 100
in the same runtime and mode, the runtime's dense step vs torch.nn.GRUCell, and the whole enhance_gru
host's real-time factor.

Ratios are measured in one run, interleaved (each repetition times every variant once, in a shuffled
order), over blocks of frames; min / median / max over repetitions. Absolute times are local figures.
Batched offline D-GRU saves no time (the PyTorch layer computes every row); only this batch-1
runtime skips the unselected rows. Without numba the runtime falls back to numpy (and warns).

    .venv/bin/python bench/dgru_latency.py [--repeats 30] [--frames 100] [--modes fp32 fp16 int8 w8a8]
"""

from __future__ import annotations

import os

for variable in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"  # before numpy/numba/torch start their thread pools

import argparse  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from leanspeech.models.enhance_gru import EnhanceGRU  # noqa: E402
from leanspeech.runtime import StreamingEnhancer, StreamingGRU  # noqa: E402

PERCENTS = (100, 75, 50, 25)
MODES = {"fp32": {"weights": "fp32"}, "fp16": {"weights": "fp16"}, "int8": {"weights": "int8"},
         "w8a8": {"weights": "int8", "activations": "int8"}}


def interleaved(variants: dict[str, Callable[[], None]], repeats: int, per_call: int) -> dict[str, np.ndarray]:
    """Seconds per unit of work of each variant, one sample per repetition, variants shuffled each time."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for _ in range(repeats):
        random.shuffle(names)
        for name in names:
            start = time.perf_counter()
            variants[name]()
            times[name].append((time.perf_counter() - start) / per_call)
    return {name: np.array(t) for name, t in times.items()}


def summary(seconds: np.ndarray) -> str:
    us = seconds * 1e6
    return f"median {np.median(us):8.1f} µs   min {us.min():8.1f}   max {us.max():8.1f}"


def spread(values: np.ndarray, unit: str = "", digits: int = 3) -> str:
    return (f"median {np.median(values):.{digits}f}{unit} (min {values.min():.{digits}f}{unit}, "
            f"max {values.max():.{digits}f}{unit})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--frames", type=int, default=100, help="frames per timed block")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = EnhanceGRU(hidden=320).eval()
    wav = model.example_wav(seconds=args.frames / 100 + 0.1)
    with torch.no_grad():  # realistic GRU inputs: the host's first layer on a noise spectrogram
        spec = model.stft(wav)[0]
        gru_inputs = model.input_activation(model.input_fc(model.compress(spec.abs()).T)).numpy()[: args.frames]
    hops = wav[0].numpy()[: args.frames * 160].reshape(args.frames, 160)

    def gru_block(runtime: StreamingGRU) -> Callable[[], None]:
        return lambda: [runtime.step(frame) for frame in gru_inputs]

    runtimes = {(m, p): StreamingGRU.from_torch(model.rnn, update_percent=p, **MODES[m])
                for m in args.modes for p in PERCENTS}
    for runtime in runtimes.values():
        runtime.run(gru_inputs[:5])  # compile / warm up
    engines = "; ".join(f"{m}: {runtimes[m, 100].engine}" for m in args.modes)
    print(f"engines: {engines}\nGRU host 320 units, 2 layers; {args.repeats} repetitions x {args.frames} frames, "
          f"interleaved; one thread")

    recurrent = interleaved({key: gru_block(r) for key, r in runtimes.items()}, args.repeats, args.frames)
    for mode in args.modes:
        print(f"\nrecurrent part (2 layers) per frame, {mode}, same runtime:")
        dense = recurrent[mode, 100]
        for p in PERCENTS:
            seconds = recurrent[mode, p]
            print(f"  P={p:3d}: {summary(seconds)}   ratio to P=100: {spread(seconds / dense)}; "
                  f"theory {(1 + 2 * p / 100) / 3:.3f}")

    cell = torch.nn.GRUCell(320, 320).eval()
    layer_0 = {k: v for k, v in model.rnn.state_dict().items() if k.endswith("_l0")}
    cell.load_state_dict({k.replace("_l0", ""): v for k, v in layer_0.items()})
    first_layer = torch.nn.GRU(320, 320).eval()
    first_layer.load_state_dict(layer_0)
    torch_inputs = torch.from_numpy(gru_inputs)[:, None]

    def cell_block() -> None:
        with torch.no_grad():
            h = torch.zeros(1, 320)
            for frame in torch_inputs:
                h = cell(frame, h)

    one_layer = {m: StreamingGRU.from_torch(first_layer, **MODES[m]) for m in args.modes}
    for runtime in one_layer.values():
        runtime.run(gru_inputs[:5])
    step = interleaved({"GRUCell": cell_block} | {m: gru_block(r) for m, r in one_layer.items()},
                       args.repeats, args.frames)
    print("\none dense GRU layer (320) per frame:")
    print(f"  GRUCell      : {summary(step['GRUCell'])}")
    for mode in args.modes:
        print(f"  runtime {mode}: {summary(step[mode])}   speed-up over GRUCell: "
              f"{spread(step['GRUCell'] / step[mode], 'x', 2)}")

    enhancers = {(m, p): StreamingEnhancer.from_model(model, update_percent=p, **MODES[m])
                 for m in args.modes for p in (100, 50)}

    def host_block(enhancer: StreamingEnhancer) -> Callable[[], None]:
        return lambda: [enhancer.enhance_hop(h) for h in hops]

    for enhancer in enhancers.values():
        host_block(enhancer)()
    whole = interleaved({key: host_block(e) for key, e in enhancers.items()}, args.repeats, args.frames)
    print("\nwhole host, 10 ms hop in → 10 ms out (STFT, FC, GRU, FC, iSTFT); real-time factor = audio time / compute:")
    for (mode, p), seconds in whole.items():
        print(f"  {mode} P={p:3d}: {summary(seconds)}   real-time factor {spread(0.010 / seconds, 'x', 0)}")


if __name__ == "__main__":
    main()

"""Where a quality-student training step spends its time on CPU, and what the study's settings save.

One step = forward, MSE, backward and AdamW on a batch of 20 precomputed feature windows (the study
computes features once, so the step is the model alone). Per student size, interleaved repetitions of:
  nchw-4s   the former setting: 4 s windows, the default contiguous layout
  cl-4s     the same windows in channels_last (what QualityStudent.forward now does)
  cl-2s     channels_last on 2 s windows (recipes/sqa/quick.yaml)
printed as min/median/max ms and the median ratio against nchw-4s. `--breakdown` adds the torch
profiler's self CPU time by kind of operator for the cl-2s step. Absolute times are local figures on a
shared machine; compare the ratios.

    python bench/sqa_student_step.py --threads 1
    python bench/sqa_student_step.py --sizes xxs s --repeats 9 --breakdown
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch.profiler import profile

from leanspeech.models.quality_student import QualityStudent

BATCH = 20
KINDS = {"convolution": ("conv",), "leaky relu": ("leaky_relu",), "attention": ("attention", "softmax"),
         "linear": ("addmm", "aten::mm", "linear"), "batch norm": ("batch_norm",), "optimizer": ("adamw", "_foreach")}


def step_fn(size: str, frames: int, channels_last: bool) -> Callable[[], None]:
    torch.manual_seed(0)
    model = QualityStudent(size).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = torch.randn(BATCH, 2, 161, frames), 1 + 4 * torch.rand(BATCH)

    def forward() -> torch.Tensor:
        if channels_last:
            return model(x)
        # QualityStudent.forward without its channels_last conversion: the former path
        return model.head(model.cnn(x).flatten(1, 2).transpose(1, 2))

    def step() -> None:
        loss = F.mse_loss(forward(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def breakdown(step: Callable[[], None]) -> str:
    step()
    with profile() as prof:
        for _ in range(3):
            step()
    totals = {kind: 0.0 for kind in (*KINDS, "other")}
    for event in prof.key_averages():
        name = event.key.lower()
        kind = next((k for k, keys in KINDS.items() if any(key in name for key in keys)), "other")
        totals[kind] += event.self_cpu_time_total
    whole = sum(totals.values())
    return ", ".join(f"{kind} {100 * t / whole:.0f}%" for kind, t in totals.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["xxs", "xs", "s", "m"])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: as set)")
    parser.add_argument("--breakdown", action="store_true", help="profiler share by operator kind (cl-2s)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"training step, batch {BATCH}, {torch.get_num_threads()} thread(s); ms min/median/max over {args.repeats}")
    for size in args.sizes:
        steps = {"nchw-4s": step_fn(size, 400, False), "cl-4s": step_fn(size, 400, True), "cl-2s": step_fn(size, 200, True)}
        times: dict[str, list[float]] = {name: [] for name in steps}
        for step in steps.values():  # warm-up
            step()
        for _ in range(args.repeats):
            for name, step in steps.items():
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
        base = statistics.median(times["nchw-4s"])
        cells = [f"{name} {1e3 * min(t):.0f}/{1e3 * statistics.median(t):.0f}/{1e3 * max(t):.0f} "
                 f"({base / statistics.median(t):.2f}x)" for name, t in times.items()]
        params = sum(p.numel() for p in QualityStudent(size).parameters())
        print(f"{size:>4} ({params:,} params): " + "  ".join(cells))
        if args.breakdown:
            print(f"      cl-2s self CPU time: {breakdown(steps['cl-2s'])}")


if __name__ == "__main__":
    main()

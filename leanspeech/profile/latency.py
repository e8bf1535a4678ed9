"""Wall-clock latency and real-time factor, at batch 1 and batched.

Shared machines are noisy, so a figure is the median of `repeats` timed runs after `warmup` untimed
ones, with min and max beside it; compare models as ratios measured in one session. No test here
asserts a time: the mechanics (counts, ordering, thread setting) are what is tested.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

import torch
from torch import nn

if TYPE_CHECKING:
    from leanspeech.models.base import SpeechModel


@dataclass
class Timing:
    batch: int
    repeats: int
    median_s: float
    min_s: float
    max_s: float
    real_time_factor: float | None  # median time / audio seconds processed (all samples of the batch)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def time_call(call: Callable[[], Any], repeats: int = 20, warmup: int = 3, clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Seconds of each of `repeats` calls of `call`, after `warmup` untimed calls."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = clock()
        call()
        times.append(clock() - start)
    return times


def summarize(times: list[float], batch: int, audio_seconds: float | None) -> Timing:
    median = statistics.median(times)
    rtf = None if not audio_seconds else median / (audio_seconds * batch)
    return Timing(batch, len(times), median, min(times), max(times), rtf)


def measure_latency(
    model: SpeechModel, seconds: float = 4.0, batches: tuple[int, ...] = (1, 8), repeats: int = 20,
    warmup: int = 3, threads: int | None = None,
) -> list[Timing]:
    """Time `forward_wav` on `seconds` of audio at each batch size (front-end included)."""
    model.eval()
    timings = []
    with torch_threads(threads), torch.inference_mode():
        for batch in batches:
            wav = model.example_wav(seconds, batch)
            times = time_call(lambda: model.forward_wav(wav), repeats, warmup)
            timings.append(summarize(times, batch, seconds))
    return timings


def measure_module_latency(
    module: nn.Module, inputs: tuple[Any, ...], repeats: int = 20, warmup: int = 3, threads: int | None = None,
    audio_seconds: float | None = None,
) -> Timing:
    """Time `module(*inputs)` for any module; `audio_seconds` per sample gives a real-time factor."""
    module.eval()
    batch = inputs[0].shape[0] if inputs and inputs[0].dim() > 1 else 1
    with torch_threads(threads), torch.inference_mode():
        times = time_call(lambda: module(*inputs), repeats, warmup)
    return summarize(times, batch, audio_seconds)

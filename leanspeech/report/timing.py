"""Interleaved timing: every candidate runs once per round, so that load on a shared machine falls on
all of them alike (DESIGN.md: compare as ratios measured in one run, median of many repetitions)."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable


@dataclass
class Measured:
    name: str
    median_s: float
    min_s: float
    max_s: float
    repeats: int
    audio_seconds: float

    @property
    def rtf(self) -> float:
        """Real-time factor: processing time / audio time (below 1 is faster than real time)."""
        return self.median_s / self.audio_seconds

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "median_s": self.median_s, "min_s": self.min_s, "max_s": self.max_s,
                "repeats": self.repeats, "audio_seconds": self.audio_seconds, "rtf": self.rtf}


def interleaved_times(calls: dict[Any, Callable[[], Any]], repeats: int = 20, warmup: int = 2,
                      clock: Callable[[], float] = time.perf_counter) -> dict[Any, list[float]]:
    """{name: `repeats` durations}: round r runs every call once, in turn, after `warmup` untimed rounds."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    times: dict[str, list[float]] = {name: [] for name in calls}
    for round_index in range(warmup + repeats):
        for name, call in calls.items():
            start = clock()
            call()
            elapsed = clock() - start
            if round_index >= warmup:
                times[name].append(elapsed)
    return times


def interleaved_seconds(calls: dict[Any, Callable[[], Any]], repeats: int = 20,
                        warmup: int = 2) -> dict[Any, dict[str, float]]:
    """{name: {"median_s", "min_s", "max_s"}} of `interleaved_times`."""
    times = interleaved_times(calls, repeats, warmup)
    return {name: {"median_s": statistics.median(t), "min_s": min(t), "max_s": max(t)} for name, t in times.items()}


def summarize(name: str, times: list[float], audio_seconds: float) -> Measured:
    return Measured(name, statistics.median(times), min(times), max(times), len(times), audio_seconds)

"""`build_report(run_dirs, out)`: read runs, fill in complexity and latency, write tables, plots and the page."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import torch
from tqdm import tqdm

from leanspeech.report.page import write_csv, write_html, write_markdown
from leanspeech.report.pareto import AXES, plot_front
from leanspeech.report.points import Incomplete, Point, fill_complexity, read_run
from leanspeech.report.timing import interleaved_times, summarize


def collect(run_dirs: Iterable[str | Path], seconds: float = 4.0) -> tuple[list[Point], list[Incomplete]]:
    """Every readable point of the runs, complexity profiled where missing; the rest as incomplete."""
    points, incomplete = [], []
    for run_dir in tqdm(list(run_dirs), desc="reading runs", unit="run", leave=False):
        found, problems = read_run(run_dir)
        points += found
        incomplete += problems
    incomplete += fill_complexity(points, seconds)
    return points, incomplete


def measure_latencies(points: list[Point], seconds: float = 4.0, repeats: int = 10, threads: int = 1) -> None:
    """Time `forward_wav` of every point's model on the same `seconds` of audio at batch 1, interleaved."""
    from leanspeech.models.io import load_model

    models = {p.model_path: load_model(p.model_path) for p in points if p.model_path and p.latency_ms is None}
    if not models:
        return
    wavs = {path: model.example_wav(seconds) for path, model in models.items()}
    calls = {path: (lambda m=model, w=wavs[path]: m.forward_wav(w)) for path, model in models.items()}
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            times = interleaved_times(calls, repeats)
    finally:
        torch.set_num_threads(previous)
    for point in points:
        if point.model_path in times:
            measured = summarize(point.model_path, times[point.model_path], seconds)
            point.latency_ms, point.rtf = 1e3 * measured.median_s, measured.rtf


def group_by_task(points: list[Point]) -> dict[str, list[Point]]:
    groups: dict[str, list[Point]] = {}
    for point in sorted(points, key=lambda p: (p.task, p.kind != "ours", p.method, p.name)):
        groups.setdefault(point.task, []).append(point)
    return groups


def build_report(run_dirs: Iterable[str | Path], out: str | Path, latency: bool = False, seconds: float = 4.0,
                 repeats: int = 10) -> dict[str, Path]:
    """Write results.csv, results.md, index.html and `<task>_<cost>.png` into `out`; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    points, incomplete = collect(run_dirs, seconds)
    if latency:
        measure_latencies(points, seconds, repeats)
    groups = group_by_task(points)
    plots: dict[str, list[Path]] = {}
    for task, task_points in groups.items():
        for cost in AXES:
            made = plot_front(task_points, cost, out / f"{task}_{cost}.png")
            if made is not None:
                plots.setdefault(task, []).append(made)
    ordered = [p for group in groups.values() for p in group]
    return {
        "csv": write_csv(ordered, out / "results.csv"),
        "markdown": write_markdown(groups, plots, incomplete, out / "results.md"),
        "html": write_html(groups, plots, incomplete, out / "index.html"),
        **{f"{task}_{path.stem.removeprefix(task + '_')}": path for task, paths in plots.items() for path in paths},
    }

"""Sweeps: a grid of recipe overrides, one training run each, resumable, in parallel processes.

`--grid key=v1,v2` lists the values of one dotted recipe key (YAML values); the grid is the cartesian
product of all keys. Each run gets `OUT/<key-value_...>` as its run_dir, so re-running the same sweep
skips finished runs (metrics.json present) and resumes interrupted ones from their last.ckpt. Every
recipe is resolved and checked before the first run starts; a run that fails is reported and counted,
the others go on. The summary is a `leanspeech report` of all finished runs in OUT/report.
"""

from __future__ import annotations

import itertools
import multiprocessing
import re
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from tqdm import tqdm

from leanspeech.config import load_recipe
from leanspeech.errors import RecipeError


def parse_grid(items: Iterable[str]) -> dict[str, list[str]]:
    """["optim.lr=1e-3,3e-3", "model.hidden=8,16"] → {"optim.lr": ["1e-3", "3e-3"], ...} (values stay text)."""
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            raise RecipeError(f"--grid {item!r}: expected dotted.key=value1,value2,...")
        if key in grid:
            raise RecipeError(f"--grid {key}: given twice")
        grid[key] = [v.strip() for v in values.split(",")]
    return grid


def expand_grid(grid: dict[str, list[str]]) -> list[list[str]]:
    """The cartesian product as lists of `key=value` overrides, in the order the keys were given."""
    return [[f"{k}={v}" for k, v in zip(grid, values)] for values in itertools.product(*grid.values())]


def run_name(overrides: list[str]) -> str:
    """A folder name that tells the overrides: `optim.lr=1e-3` → `lr-1e-3` (last key part, safe characters)."""
    parts = []
    for override in overrides:
        key, _, value = override.partition("=")
        parts.append(f"{key.rsplit('.', 1)[-1]}-{re.sub(r'[^A-Za-z0-9.+-]+', '_', value).strip('_')}")
    return "_".join(parts) or "base"


@dataclass
class SweepRun:
    name: str
    run_dir: Path
    overrides: list[str]
    status: str = "pending"  # pending, skipped (already finished), done, failed
    error: str = ""


def plan_sweep(recipe: str | Path, grid: dict[str, list[str]], out: str | Path, fixed: Iterable[str] = ()) -> list[SweepRun]:
    """One SweepRun per grid point; every recipe is loaded and checked here, before any training."""
    out = Path(out)
    runs = []
    for overrides in expand_grid(grid):
        name = run_name(overrides)
        run = SweepRun(name, out / name, overrides)
        load_recipe(recipe, [*fixed, *overrides, f"run_dir={run.run_dir}"])  # raises RecipeError naming the key
        if (run.run_dir / "metrics.json").is_file():
            run.status = "skipped"
        runs.append(run)
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise RecipeError("two grid points give the same run name; use values that differ in their text")
    return runs


def _train_one(recipe: str, overrides: list[str]) -> None:
    from leanspeech.train import train

    train(load_recipe(recipe, overrides))


def run_sweep(recipe: str | Path, grid: dict[str, list[str]], out: str | Path, jobs: int = 1,
              fixed: Iterable[str] = (), report: bool = True) -> list[SweepRun]:
    """Train every unfinished grid point (`jobs` processes at a time), then write OUT/report."""
    fixed = list(fixed)
    runs = plan_sweep(recipe, grid, out, fixed)
    todo = [r for r in runs if r.status == "pending"]
    arguments = {r.name: (str(recipe), [*fixed, *r.overrides, f"run_dir={r.run_dir}"]) for r in todo}
    with tqdm(total=len(runs), initial=len(runs) - len(todo), desc="sweep", unit="run") as bar:
        if jobs <= 1:
            for run in todo:
                _finish(run, lambda: _train_one(*arguments[run.name]), bar)
        else:
            context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch threads
            with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
                futures = {pool.submit(_train_one, *arguments[r.name]): r for r in todo}
                for future in as_completed(futures):
                    _finish(futures[future], future.result, bar)
    if report:
        from leanspeech.report import build_report

        build_report([r.run_dir for r in runs if r.status in ("done", "skipped")], Path(out) / "report")
    return runs


def _finish(run: SweepRun, outcome: Any, bar: tqdm) -> None:
    try:
        outcome()
        run.status = "done"
    except Exception as err:  # one failed run must not stop the sweep: it is reported at the end
        run.status, run.error = "failed", f"{type(err).__name__}: {err}"
        tqdm.write(f"{run.name}: failed\n{''.join(traceback.format_exception_only(err)).strip()}")
    bar.update(1)

"""Outputs of the filter-bank study: results.csv / results.json and the two figures of the paper."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path

from leanspeech.report.figure import saved_figure
from leanspeech.studies.filterbank import FilterbankStudyResult


def plot_factor_reduction(result: FilterbankStudyResult, path: Path) -> Path:
    """Fig. 3: final vs initial overparameterization factor, one line per β, the diagonal = no reduction."""
    with saved_figure(path, figsize=(5, 4.5)) as (fig, ax):
        factors = sorted({run.initial_factor for run in result.runs})
        ax.plot(factors, factors, "--", color="gray", label="no reduction")
        for beta in result.config.betas:
            runs = sorted((r for r in result.runs if r.beta == beta), key=lambda r: r.initial_factor)
            ax.plot([r.initial_factor for r in runs], [r.final_factor for r in runs], "o-", label=f"β = {beta:g}")
        ax.set_xlabel("initial overparameterization factor")
        ax.set_ylabel("final overparameterization factor")
        ax.set_title(f"{result.config.bands}-band {result.config.scale} filter bank")
        ax.legend()
    return path


def plot_filterbanks(result: FilterbankStudyResult, path: Path) -> Path:
    """Fig. 2: learned filter bank early and at the end, next to the target."""
    run = result.figure2_run
    panels = [
        (result.snapshot, f"after {result.config.snapshot_step} steps"),
        (result.final, f"after {result.config.steps} steps (factor {run.initial_factor} → {run.final_factor:.2f})"),
        (result.target, "target"),
    ]
    with saved_figure(path, 1, 3, figsize=(13, 3.6), sharey=True, tight=False) as (fig, axes):
        limit = float(result.target.abs().max())
        for ax, (matrix, title) in zip(axes, panels):
            image = ax.imshow(matrix.numpy(), aspect="auto", origin="lower", cmap="magma", vmin=0.0, vmax=limit)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("FFT bin")
        axes[0].set_ylabel("band")
        fig.colorbar(image, ax=axes, shrink=0.8)
        fig.suptitle(f"{result.config.scale} {result.config.bands} bands, β = {run.beta:g}", fontsize=10)
    return path


def write_results(result: FilterbankStudyResult, out_dir: str | Path) -> dict[str, Path]:
    """results.csv (one row per run), results.json (config, runs with factor histories), two PNGs."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = [run.row() for run in result.runs]
    with open(out / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = {"config": asdict(result.config), "runs": [asdict(run) for run in result.runs]}
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    return {
        "csv": out / "results.csv",
        "json": out / "results.json",
        "factors": plot_factor_reduction(result, out / "factor_reduction.png"),
        "filterbanks": plot_filterbanks(result, out / "filterbanks.png"),
    }

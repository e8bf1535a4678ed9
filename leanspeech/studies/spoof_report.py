"""The anti-spoofing study's report: results.csv (one row per model, means over seeds), runs.csv (one row
per model and seed), results.json, and the Fig. 8-style plot of eval EER against FLOP/s with parameter
counts annotated; the learned channel progression of every model is in both tables."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from leanspeech.report.figure import saved_figure


COLUMNS = ("name", "eer", "dev_eer", "params", "flops_per_second", "macs_per_second", "channels", "selected_step",
           "train_seconds")
SUMMARY_COLUMNS = ("name", "eer", "eer_std", "dev_eer", "params", "flops_per_second", "flops_saved", "macs_per_second",
                   "channels", "selected_step", "train_seconds", "seeds")  # means over seeds; channels of the first


def write_csv(rows: list[dict[str, Any]], columns: tuple[str, ...], path: Path) -> Path:
    attacks = sorted({a for r in rows for a in r["eer_per_attack"]})
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*columns, *(f"eer_{a}" for a in attacks)])
        for r in rows:
            row = [" ".join(map(str, r[c])) if isinstance(r[c], list) else r[c] for c in columns]
            writer.writerow([*row, *(r["eer_per_attack"].get(a, "") for a in attacks)])
    return path


def plot_eer_vs_flops(results: list[dict[str, Any]], path: Path) -> Path:
    """Fig. 8: x FLOP/s, y eval EER %; each model's mean over seeds (± std as an error bar, every seed as
    a faint dot when there are several) labelled with its name and parameters (M); the baseline's EER and
    FLOP/s as red dotted lines, 20 % of its FLOP/s as a grey dashed one."""
    with saved_figure(path, figsize=(8, 5.5)) as (figure, axes):
        baseline = results[0]
        for r in results:
            is_baseline = r is baseline
            color = "tab:red" if is_baseline else "tab:green" if " BX " in r["name"] else "tab:blue"
            if len(r["eer_per_seed"]) > 1:
                axes.scatter(r["flops_per_second_per_seed"], [100 * e for e in r["eer_per_seed"]], s=14, color=color,
                             alpha=0.35, zorder=2)
            axes.errorbar(r["flops_per_second"], 100 * r["eer"], yerr=100 * r["eer_std"], fmt="s" if is_baseline else "o",
                          markersize=7, color=color, capsize=3, zorder=3)
            axes.annotate(f"{r['name']}\n{r['params'] / 1e6:.2f} M", (r["flops_per_second"], 100 * r["eer"]),
                          textcoords="offset points", xytext=(6, 4), fontsize=7)
        axes.axhline(100 * baseline["eer"], color="tab:red", linestyle=":", linewidth=1)
        axes.axvline(baseline["flops_per_second"], color="tab:red", linestyle=":", linewidth=1)
        # the paper's result (and the target): 80 % fewer FLOP/s than the baseline at no worse EER
        axes.axvline(0.2 * baseline["flops_per_second"], color="grey", linestyle="--", linewidth=1, label="−80 % FLOP/s")
        axes.legend(loc="best", fontsize=8)
        axes.set_xscale("log")
        axes.set_xlabel("FLOP/s (per second of audio)")
        axes.set_ylabel("EER on the eval split (unseen attacks) [%]")
        axes.set_title("ResNet34 (RN34) vs DynResNet34 (DRN34): complexity, size and EER")
        axes.grid(True, which="both", alpha=0.3)
    return path


def write_report(summary: dict[str, Any], out: Path) -> dict[str, Path]:
    results = summary["results"]
    paths = {
        "results.csv": write_csv(results, SUMMARY_COLUMNS, out / "results.csv"),
        "runs.csv": write_csv(summary["runs"], (*COLUMNS, "seed"), out / "runs.csv"),
        "eer_vs_flops.png": plot_eer_vs_flops(results, out / "eer_vs_flops.png"),
    }
    paths["results.json"] = out / "results.json"
    paths["results.json"].write_text(json.dumps(summary, indent=2))
    return paths

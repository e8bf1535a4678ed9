"""The anti-spoofing study's report: results.csv / results.json, the Fig. 8-style plot of eval EER against
FLOP/s with parameter counts annotated, and the learned channel progression of every model."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLUMNS = ("name", "eer", "dev_eer", "params", "flops_per_second", "macs_per_second", "channels", "selected_step",
           "train_seconds")


def write_csv(results: list[dict[str, Any]], path: Path) -> Path:
    attacks = sorted({a for r in results for a in r["eer_per_attack"]})
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*COLUMNS, *(f"eer_{a}" for a in attacks)])
        for r in results:
            row = [" ".join(map(str, r[c])) if c == "channels" else r[c] for c in COLUMNS]
            writer.writerow([*row, *(r["eer_per_attack"].get(a, "") for a in attacks)])
    return path


def plot_eer_vs_flops(results: list[dict[str, Any]], path: Path) -> Path:
    """Fig. 8: x FLOP/s, y eval EER %; each point labelled with its name and parameters (M); the
    baseline's EER and FLOP/s as red dotted lines."""
    figure, axes = plt.subplots(figsize=(8, 5.5))
    baseline = results[0]
    for r in results:
        is_baseline = r is baseline
        axes.scatter(r["flops_per_second"], 100 * r["eer"], s=60, marker="s" if is_baseline else "o",
                     color="tab:red" if is_baseline else "tab:green" if " BX " in r["name"] else "tab:blue", zorder=3)
        axes.annotate(f"{r['name']}\n{r['params'] / 1e6:.2f} M", (r["flops_per_second"], 100 * r["eer"]),
                      textcoords="offset points", xytext=(6, 4), fontsize=7)
    axes.axhline(100 * baseline["eer"], color="tab:red", linestyle=":", linewidth=1)
    axes.axvline(baseline["flops_per_second"], color="tab:red", linestyle=":", linewidth=1)
    axes.set_xscale("log")
    axes.set_xlabel("FLOP/s (per second of audio)")
    axes.set_ylabel("EER on the eval split (unseen attacks) [%]")
    axes.set_title("ResNet34 (RN34) vs DynResNet34 (DRN34): complexity, size and EER")
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def write_report(summary: dict[str, Any], out: Path) -> dict[str, Path]:
    results = summary["results"]
    paths = {
        "results.csv": write_csv(results, out / "results.csv"),
        "eer_vs_flops.png": plot_eer_vs_flops(results, out / "eer_vs_flops.png"),
    }
    paths["results.json"] = out / "results.json"
    paths["results.json"].write_text(json.dumps(summary, indent=2))
    return paths

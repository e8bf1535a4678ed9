"""The quality study's report: results.csv / results.json, metrics.png (Fig. 2), predictions.png (Fig. 3)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from leanspeech.report.figure import saved_figure
from leanspeech.studies.quality import BAM, FP32, VARIANTS

COLUMNS = ("variant", "test_mse", "test_mse_std", "test_pcc", "test_pcc_std", "seeds", "params", "macs",
           "binary_macs", "activation_bytes", "activation_reduction", "file_bytes", "latency_ratio")


def result_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    latency = summary["costs"]["latency"]
    for name in VARIANTS:
        q, c = summary["quality"][name], summary["costs"]["rows"][name]
        rows.append({
            "variant": name, "test_mse": q["mse"], "test_mse_std": q["mse_std"], "test_pcc": q["pcc"],
            "test_pcc_std": q["pcc_std"], "seeds": q["n"], **{k: c[k] for k in COLUMNS[6:-1]},
            "latency_ratio": latency[name]["ratio"] if name in latency else None,
        })
    return rows


def write_report(summary: dict[str, Any], out: Path) -> dict[str, Path]:
    rows = result_rows(summary)
    paths = {"csv": out / "results.csv", "json": out / "results.json", "metrics": out / "metrics.png",
             "predictions": out / "predictions.png"}
    with open(paths["csv"], "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    public = {k: v for k, v in summary.items() if k != "predictions"}
    paths["json"].write_text(json.dumps({**public, "rows": rows}, indent=2, default=str))
    _plot_metrics(rows, summary, paths["metrics"])
    _plot_predictions(summary, paths["predictions"])
    return paths


def _plot_metrics(rows: list[dict[str, Any]], summary: dict[str, Any], path: Path) -> None:
    with saved_figure(path, 1, 2, figsize=(10, 3.8)) as (fig, axes):
        names = [r["variant"] for r in rows]
        for ax, key, title in ((axes[0], "test_mse", "test MSE"), (axes[1], "test_pcc", "test PCC")):
            ax.bar(range(len(rows)), [r[key] for r in rows], yerr=[r[f"{key}_std"] for r in rows], color="tab:orange",
                   capsize=3)
            ax.set_xticks(range(len(rows)), names, rotation=30, ha="right", fontsize=8)
            ax.set_title(title)
        peer = summary.get("peer")
        if peer:
            axes[1].axhline(peer["ovrl"]["agreement"]["pcc"], color="gray", linestyle="--", label="DNSMOS OVRL (peer)")
            axes[1].legend(fontsize=8)
        fig.suptitle(f"PESQ prediction, mean ± std over {rows[0]['seeds']} seed(s)")


def _plot_predictions(summary: dict[str, Any], path: Path) -> None:
    fp32, bam, target = summary["predictions"][FP32][0], summary["predictions"][BAM][0], summary["target"]
    with saved_figure(path, 1, 2, figsize=(8, 3.8)) as (fig, axes):
        axes[0].scatter(target, fp32, s=8)
        axes[0].set(xlabel="WB-PESQ", ylabel="fp32 prediction", title="fp32 vs PESQ (seed 0)")
        axes[1].scatter(fp32, bam, s=8, color="tab:orange")
        axes[1].set(xlabel="fp32 prediction", ylabel="BAM-QAT prediction", title="BAM-QAT vs fp32 (seed 0)")
        for ax in axes:
            low, high = ax.get_xlim()
            ax.plot([low, high], [low, high], color="gray", linewidth=0.8)

"""The VAD study's report folder: README.md (table), results.csv, metrics.json and two figures.

eer_vs_flops.png is the paper's Fig. 5 (EER vs FLOP/s, filter-bank bands next to each model);
spp_traces.png is its Fig. 6 (speech-presence probability of the baseline and the smallest dynamic
model on one high-SNR and one low-SNR test clip, over the labels).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from leanspeech.report.figure import saved_figure

if TYPE_CHECKING:
    from leanspeech.studies.vad import ModelResult

COLUMNS = ("name", "kind", "eer", "bands", "conv_channels", "params", "macs_per_second", "flops_per_second",
           "train_seconds", "min_fraction", "note", "model")
METHODS = {"baseline": "baseline", "dynamic": "width"}


def _m(value: float | None) -> str:
    return "" if value is None else f"{value / 1e6:.2f}"


def markdown_table(results: list, baseline_flops: float) -> str:
    lines = ["| model | EER % | bands | conv ch. | params | MFLOP/s | FLOP/s vs CRNNVAD | train s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        saving = "" if r.flops_per_second is None else f"{100 * (r.flops_per_second / baseline_flops - 1):+.1f} %"
        lines.append(
            f"| {r.name} | {100 * r.eer:.2f} | {r.bands or ''} | {r.conv_channels or ''} | {r.params or ''} | "
            f"{_m(r.flops_per_second)} | {saving} | {'' if r.train_seconds is None else f'{r.train_seconds:.0f}'} |"
        )
    return "\n".join(lines)


def plot_eer_vs_flops(results: list, path: Path) -> None:
    with saved_figure(path, figsize=(6.4, 4.4)) as (fig, ax):
        labels: dict[tuple[float, float], list[str]] = {}  # variants that converge to one model share a label
        for r in results:
            if r.flops_per_second is None:
                ax.axhline(100 * r.eer, color="gray", linestyle=":", linewidth=1)
                ax.annotate(f"{r.name} (no FLOP count)", (0.01, 100 * r.eer), xycoords=("axes fraction", "data"),
                            fontsize=8, color="gray", va="bottom")
                continue
            marker, color = {"baseline": ("s", "tab:red"), "dynamic": ("o", "tab:green"), "peer": ("^", "tab:blue")}[r.kind]
            ax.scatter(r.flops_per_second / 1e6, 100 * r.eer, marker=marker, color=color, s=40, zorder=3)
            names = labels.setdefault((r.flops_per_second / 1e6, 100 * r.eer), [])
            names.append(r.name if not names else r.name.split()[-1])
            if r.bands is not None:
                names.append(f"({r.bands} bands)")
        for point, names in labels.items():
            bands = [n for n in names if n.endswith("bands)")][:1]
            text = "/".join(n for n in names if not n.endswith("bands)"))
            ax.annotate(" ".join([text, *bands]), point, textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("MFLOP/s (per second of audio)")
        ax.set_ylabel("EER (%)")
        ax.set_title("VAD: EER vs complexity on the fixed test set")
        ax.grid(True, which="both", alpha=0.3)


def pick_trace_clips(snr: np.ndarray, labels: np.ndarray) -> tuple[int, int]:
    """(high-SNR clip, low-SNR clip) among clips with both speech and non-speech; no noise counts as +inf dB."""
    mixed = (labels.mean(axis=1) > 0.2) & (labels.mean(axis=1) < 0.8)
    candidates = np.flatnonzero(mixed) if mixed.any() else np.arange(len(snr))
    db = np.where(np.isnan(snr), np.inf, snr)[candidates]
    return int(candidates[np.argmax(db)]), int(candidates[np.argmin(db)])


def plot_traces(clips: Any, traces: dict[str, np.ndarray], names: tuple[str, str], path: Path) -> None:
    high, low = pick_trace_clips(clips.snr, clips.labels)
    with saved_figure(path, 2, 1, figsize=(8, 5.5), sharex=True) as (fig, axes):
        for ax, index, title in ((axes[0], high, "high SNR"), (axes[1], low, "low SNR")):
            wav = clips.mixtures[index]
            frames = clips.labels.shape[1]
            seconds = np.arange(frames) * len(wav) / clips.sample_rate / (frames - 1)
            t_wav = np.arange(len(wav)) / clips.sample_rate
            ax.plot(t_wav, 0.5 * wav / (np.abs(wav).max() + 1e-9) + 0.5, color="0.8", linewidth=0.5)
            ax.fill_between(seconds, 0, clips.labels[index], step="mid", color="tab:gray", alpha=0.2, label="label")
            for name, color in zip(names, ("tab:red", "tab:green")):
                ax.plot(seconds, traces[name][index], color=color, label=name)
            snr = clips.snr[index]
            ax.set_title(f"{title}: clip {index}, " + ("no noise" if math.isnan(snr) else f"SNR {snr:.1f} dB"), fontsize=10)
            ax.set_ylabel("speech probability")
            ax.set_ylim(-0.02, 1.02)
        axes[0].legend(loc="upper right", fontsize=8)
        axes[1].set_xlabel("time (s)")


def report_point(result: ModelResult) -> dict[str, Any]:
    """One model or peer in the schema of `leanspeech.report` (see leanspeech/report/__init__.py)."""
    complexity = {"params": result.params, "macs_per_second": result.macs_per_second,
                  "flops_per_second": result.flops_per_second}
    return {
        "task": "vad", "name": result.name, "method": METHODS.get(result.kind, result.name),
        "kind": "peer" if result.kind == "peer" else "ours",
        "metric": {"name": "eer", "value": result.eer, "higher_is_better": False},
        "complexity": {k: v for k, v in complexity.items() if v is not None},
        **({"model": result.model} if result.model else {}),
    }


def write_report(summary: dict[str, Any], out: Path) -> Path:
    results, clips, config = summary["results"], summary["clips"], summary["config"]
    baseline = next(r for r in results if r.kind == "baseline")
    dynamic = [r for r in results if r.kind == "dynamic"]
    report = out / "report"
    report.mkdir(parents=True, exist_ok=True)
    with open(report / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(asdict(r) for r in results)
    metrics = {
        "points": [report_point(r) for r in results],  # the form `leanspeech report` reads
        "results": [asdict(r) for r in results],
        "test_clips": int(len(clips.mixtures)),
        "test_frames": int(clips.labels.size),
        "speech_fraction": float(clips.labels.mean()),
        "wall_seconds": summary["wall_seconds"],
        "config": asdict(config),
        "corpus": summary["corpus"],
    }
    (report / "metrics.json").write_text(json.dumps(metrics, indent=2))
    plot_eer_vs_flops(results, report / "eer_vs_flops.png")
    smallest = min(dynamic, key=lambda r: r.min_fraction) if dynamic else baseline
    plot_traces(clips, summary["traces"], (baseline.name, smallest.name), report / "spp_traces.png")
    text = [
        "# VAD trade-off study (width-noise-injection.md, case study 2)",
        "",
        f"Test set: {len(clips.mixtures)} clips of {config.test_seconds:g} s from held-out speakers, voices, "
        f"noises and RIRs ({clips.labels.size} frames, {100 * clips.labels.mean():.1f} % speech). "
        f"Training: {config.fixed_steps} fixed-width + {config.width_steps} width-learning steps of "
        f"{config.train.batch_size} crops of {config.segment_seconds:g} s (CRNNVAD: {config.fixed_steps + config.width_steps} steps), β = {config.beta}. "
        f"Wall time {summary['wall_seconds'] / 60:.1f} min.",
        "",
        markdown_table(results, baseline.flops_per_second),
        "",
        *[f"- {r.name}: {r.note}" for r in results if r.note],
        "",
        "![EER vs FLOP/s](eer_vs_flops.png)",
        "",
        "![speech presence traces](spp_traces.png)",
        "",
        "Models: `runs/<name>/model.pt` (dynamic, as trained) and `runs/<name>/consolidated.pt` (plain layers).",
    ]
    (report / "README.md").write_text("\n".join(text) + "\n")
    return report

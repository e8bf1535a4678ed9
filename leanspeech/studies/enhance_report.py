"""The enhancement study's report folder: README.md (the paper's Tables 1 and 2), results.csv,
significance.csv, delta_pesq.csv, results.json, delta_pesq.png (Fig. 2) and pesq_box.png (the
per-clip PESQ distributions the tests compare)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from leanspeech.report.figure import saved_figure
from leanspeech.studies.enhance_eval import METRICS

ALPHA = 0.05


def finite_mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


def result_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per condition of the main test set: mean scores, clips scored, MAC/s split."""
    costs = summary["costs"]
    reference = next(iter(costs.values()), {}).get("all_layers")
    rows = []
    for label, scores in summary["scores"]["main"].items():
        row: dict[str, Any] = {"condition": label}
        cost = costs.get(label, {})
        row["params"] = cost.get("params")
        for key in ("non_gru", "gru", "all_layers", "front_end"):
            row[f"mmacs_{key}"] = cost[key] / 1e6 if key in cost else None
        row["relative_cost"] = cost["all_layers"] / reference if cost and reference else None
        for metric in METRICS:
            row[metric] = finite_mean(scores[metric])
        row["clips"] = int(np.isfinite(scores["pesq"]).sum())
        rows.append(row)
    return rows


def delta_pesq(summary: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Mean PESQ improvement over the noisy input per SNR level (clips both could score), per condition."""
    table: dict[str, dict[str, float]] = {}
    for set_name, snr in summary["snr_levels"].items():
        conditions = summary["scores"][set_name]
        noisy = conditions["noisy"]["pesq"]
        for label, scores in conditions.items():
            if label != "noisy":
                table.setdefault(label, {})[f"{snr:g}"] = finite_mean(scores["pesq"] - noisy)
    return table


def target_check(summary: dict[str, Any]) -> str:
    """The paper's claim at P = 50: PESQ not significantly below P = 100 (two-sided Mann-Whitney, p > 0.05)."""
    pair = next((t for t in summary["significance"] if {t["a"], t["b"]} == {"P=100", "P=50"}), None)
    if pair is None:
        return "target not checked: P = 100 and P = 50 are not both in the study"
    main = summary["scores"]["main"]
    dense, sparse = finite_mean(main["P=100"]["pesq"]), finite_mean(main["P=50"]["pesq"])
    met = pair["p"] > ALPHA or sparse >= dense
    verdict = "met" if met else "MISSED"
    return (f"target {verdict}: PESQ at P = 50 is {sparse:.3f} vs {dense:.3f} at P = 100, Mann-Whitney p = "
            f"{pair['p']:.3f} ({'not ' if pair['p'] > ALPHA else ''}significant at {ALPHA})")


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(summary: dict[str, Any], rows: list[dict[str, Any]], deltas: dict[str, dict[str, float]]) -> str:
    config = summary["config"]
    lines = [
        f"# D-GRU enhancement study ({config['host']}, {config['model']})",
        "",
        f"Corpus `{summary['corpus']}`. Training took {summary['train_seconds'] / 60:.1f} min ({config['pretrain_steps']} "
        f"dense steps, then {config['finetune_steps']} per P, batch {config['batch_size']} of "
        f"{config['segment_seconds']} s); this invocation took {summary['wall_seconds'] / 60:.1f} min wall time "
        "(a resumed study reuses finished runs and cached scores).",
        "",
        f"**{target_check(summary)}**",
        "",
        "## Table 1: cost and quality on the main test set "
        f"(SNR {config['test_snr_range'][0]:g}…{config['test_snr_range'][1]:g} dB, {config['test_seconds']} s clips)",
        "",
        "| condition | params (M) | non-GRU MMAC/s | GRU MMAC/s | all layers MMAC/s | PESQ-WB | ESTOI % | SI-SNR dB "
        "| DNSMOS OVRL | clips |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        total = "–" if r["mmacs_all_layers"] is None else f"{r['mmacs_all_layers']:.2f} ({100 * r['relative_cost']:.0f} %)"
        params = "–" if r["params"] is None else f"{r['params'] / 1e6:.3f}"
        estoi = "–" if math.isnan(r["estoi"]) else f"{100 * r['estoi']:.1f}"
        lines.append(f"| {r['condition']} | {params} | {_fmt(r['mmacs_non_gru'])} | {_fmt(r['mmacs_gru'])} | {total} | "
                     f"{_fmt(r['pesq'], 3)} | {estoi} | {_fmt(r['si_snr'])} | {_fmt(r['dnsmos_ovrl'])} | {r['clips']} |")
    front = next((r["mmacs_front_end"] for r in rows if r["mmacs_front_end"] is not None), None)
    if front is not None:
        lines += ["", f"The STFT front end adds {front:.2f} MMAC/s to every model (not in the layer columns, as in "
                      "the paper). MACs are counted by the profiler; D-GRU counts (1 + 2P/100)/3 of its gate work."]
    lines += ["", "## Table 2: Mann-Whitney U p-values of PESQ between P values (two-sided, uncorrected as in the "
                  "paper; Holm-corrected in brackets)", "", "| P_A | P_B | p | clips |", "|---|---|---:|---:|"]
    for t in summary["significance"]:
        mark = "**" if t["p"] < ALPHA else ""
        lines.append(f"| {t['a']} | {t['b']} | {mark}{t['p']:.3f}{mark} ({t['p_holm']:.3f}) | {t['clips']} |")
    levels = list(next(iter(deltas.values()), {}))
    if levels:
        lines += ["", "## Fig. 2: mean ΔPESQ over the noisy input per SNR (dB)", "",
                  "| condition | " + " | ".join(f"{s} dB" for s in levels) + " |", "|---|" + "---:|" * len(levels)]
        lines += [f"| {label} | " + " | ".join(_fmt(v, 3) for v in values.values()) + " |"
                  for label, values in deltas.items()]
    lines += ["", *[f"- note: {n}" for n in summary["notes"]]]
    return "\n".join(lines) + "\n"


def plot_delta_pesq(deltas: dict[str, dict[str, float]], path: Path) -> None:
    labels = list(deltas)
    levels = list(next(iter(deltas.values()), {}))
    with saved_figure(path, figsize=(6.4, 4.0)) as (fig, ax):
        width = 0.8 / max(1, len(labels))
        for i, label in enumerate(labels):
            x = np.arange(len(levels)) + (i - (len(labels) - 1) / 2) * width
            ax.bar(x, [deltas[label][s] for s in levels], width, label=label)
        ax.set_xticks(np.arange(len(levels)), [f"{s} dB" for s in levels])
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xlabel("input SNR")
        ax.set_ylabel("mean ΔPESQ (enhanced − noisy)")
        ax.set_title("PESQ improvement per update percentage P (paper Fig. 2)")
        ax.legend(fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)


def plot_pesq_box(summary: dict[str, Any], path: Path) -> None:
    main = summary["scores"]["main"]
    labels = list(main)
    with saved_figure(path, figsize=(6.4, 4.0)) as (fig, ax):
        ax.boxplot([main[label]["pesq"][np.isfinite(main[label]["pesq"])] for label in labels])
        ax.set_xticks(np.arange(1, len(labels) + 1), labels, rotation=20)
        ax.set_ylabel("PESQ-WB per clip")
        ax.set_title("Per-clip PESQ on the main test set")
        ax.grid(True, axis="y", alpha=0.3)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [None if not np.isfinite(v) else float(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_report(summary: dict[str, Any], out: Path) -> dict[str, Path]:
    rows, deltas = result_rows(summary), delta_pesq(summary)
    paths = {name: out / name for name in ("README.md", "results.csv", "significance.csv", "delta_pesq.csv",
                                           "results.json", "delta_pesq.png", "pesq_box.png")}
    paths["README.md"].write_text(markdown(summary, rows, deltas))
    _write_csv(paths["results.csv"], rows)
    _write_csv(paths["significance.csv"], summary["significance"])
    _write_csv(paths["delta_pesq.csv"], [{"condition": k, **v} for k, v in deltas.items()])
    paths["results.json"].write_text(json.dumps(_jsonable({**summary, "rows": rows, "delta_pesq": deltas,
                                                           "target": target_check(summary)}), indent=2))
    plot_delta_pesq(deltas, paths["delta_pesq.png"])
    plot_pesq_box(summary, paths["pesq_box.png"])
    return paths

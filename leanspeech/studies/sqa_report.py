"""Scores, tables and the figure of the quality distillation study (distill-prune-sqa.md Table I, Fig. 3)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from leanspeech.metrics import agreement_per_set, mean_over_sets, pcc
from leanspeech.report.figure import saved_figure

FIG3_SERIES = ("labeled-only", "distilled", "taylor-pruned", "magnitude-pruned", "teacher-pruned")


def evaluate(predictions: np.ndarray, test: dict[str, Any]) -> dict[str, float]:
    """PCC with the ground truth per test set that has one, its clip-weighted and unweighted means, and
    PCC with the teacher per set and overall. Clips the predictor could not score (NaN) are left out."""
    predictions = np.asarray(predictions, dtype=np.float64)
    sets = np.asarray(test["sets"], dtype=object)
    scored = np.isfinite(predictions)
    truth = scored & np.isfinite(test["truth"])
    result: dict[str, float] = {}
    per_set = agreement_per_set(predictions[truth], test["truth"][truth], list(sets[truth]))
    for name, agreement in per_set.items():
        result[f"pcc_{name}"], result[f"n_{name}"] = agreement.pcc, agreement.n
    result["pcc_weighted"] = mean_over_sets(per_set, weighted=True)["pcc"]
    result["pcc_unweighted"] = mean_over_sets(per_set, weighted=False)["pcc"]
    for name in dict.fromkeys(sets):
        chosen = scored & (sets == name)
        result[f"teacher_pcc_{name}"] = pcc(predictions[chosen], test["teacher"][chosen])
        result[f"teacher_n_{name}"] = int(chosen.sum())
    result["teacher_pcc"] = pcc(predictions[scored], test["teacher"][scored])
    return result


def agreement_by_condition(predictions: np.ndarray, test: dict[str, Any]) -> list[dict[str, Any]]:
    """Where a student parts from the teacher: for each value of each condition column, the clips' count,
    PCC with the teacher and mean offset (student − teacher; a group scored too high or too low costs
    overall PCC even when its own PCC is high)."""
    predictions = np.asarray(predictions, dtype=np.float64)
    rows = []
    for column, values in test["conditions"].items():
        values = np.asarray(values, dtype=object)
        for value in sorted(set(values), key=str):
            chosen = (values == value) & np.isfinite(predictions)
            rows.append({"condition": column, "value": value, "n": int(chosen.sum()),
                         "teacher_pcc": pcc(predictions[chosen], test["teacher"][chosen]),
                         "offset": float(np.mean(predictions[chosen] - test["teacher"][chosen]))})
    return rows


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _number(value: Any, digits: int = 2) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def over_seeds(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each method and model trained with several seeds: the seeds, and the mean, sd, min and max of
    each PCC over them (the spread between seeds is as large as many differences between variants)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if "seed" in row:
            groups.setdefault((row["method"], row["model"]), []).append(row)
    summary = []
    for (method, model), runs in groups.items():
        if len(runs) < 2:
            continue
        entry: dict[str, Any] = {"method": method, "model": model, "seeds": [r["seed"] for r in runs]}
        for key in dict.fromkeys(k for r in runs for k in r if k.startswith(("pcc_", "teacher_pcc"))):
            values = np.array([r.get(key, math.nan) for r in runs], dtype=np.float64)
            entry[key] = {"mean": float(values.mean()), "sd": float(values.std(ddof=1)),
                          "min": float(values.min()), "max": float(values.max())}
        summary.append(entry)
    return summary


def seeds_markdown(summary: list[dict[str, Any]]) -> str:
    """`over_seeds` as a table: mean ± sd (min–max) of the weighted PCC with the ground truth and of the
    PCC with the teacher per test set and overall."""
    keys = ["pcc_weighted", *dict.fromkeys(k for e in summary for k in e if k.startswith("teacher_pcc_")), "teacher_pcc"]
    header = ["method", "model", "seeds", *[k.replace("_", " ") for k in keys]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for entry in summary:
        cells = [entry["method"], entry["model"], str(len(entry["seeds"]))]
        cells += [f"{v['mean']:.3f} ± {v['sd']:.3f} ({v['min']:.3f}–{v['max']:.3f})" if (v := entry.get(k)) else "n/a"
                  for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table_markdown(rows: list[dict[str, Any]]) -> str:
    """Table I's layout: one row per model; parameters (M), PCC with the ground truth per test set, weighted
    and unweighted means; then PCC with the teacher per test set (TTS clips have no ground truth) and overall."""
    sets = list(dict.fromkeys(k[4:] for row in rows for k in row if k.startswith("pcc_") and k not in
                              ("pcc_weighted", "pcc_unweighted")))
    teacher_sets = list(dict.fromkeys(k[12:] for row in rows for k in row if k.startswith("teacher_pcc_")))
    header = ["method", "model", "# params (M)", *[f"{s} (n={rows[0].get('n_' + s, '?')})" for s in sets],
              "weighted mean", "unweighted mean",
              *[f"teacher PCC {s} (n={rows[0].get('teacher_n_' + s, '?')})" for s in teacher_sets], "teacher PCC all"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    several_seeds = len({row["seed"] for row in rows if "seed" in row}) > 1
    for row in rows:
        model = f"{row['model']}, seed {row['seed']}" if several_seeds and "seed" in row else row["model"]
        cells = [row["method"], model, _number(row["params"] / 1e6, 4)]
        cells += [_number(row.get(f"pcc_{s}", math.nan)) for s in sets]
        cells += [_number(row["pcc_weighted"]), _number(row["pcc_unweighted"])]
        cells += [_number(row.get(f"teacher_pcc_{s}", math.nan)) for s in teacher_sets] + [_number(row["teacher_pcc"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_pcc_vs_params(rows: list[dict[str, Any]], path: Path) -> Path:
    """Fig. 3: weighted PCC against parameters (pruned: sparse count) for each approach, teacher as a line."""
    with saved_figure(path, figsize=(6, 4)) as (fig, ax):
        for method, marker in zip(FIG3_SERIES, "osv^D"):
            by_params: dict[float, list[float]] = {}  # several seeds of one model: their mean
            for r in rows:
                if r["method"] == method:
                    by_params.setdefault(r["params"], []).append(r["pcc_weighted"])
            points = sorted((params, float(np.mean(values))) for params, values in by_params.items())
            if points:
                ax.plot(*zip(*points), marker=marker, label=method)
        for row in rows:
            if row["method"] == "teacher":
                ax.axhline(row["pcc_weighted"], color="k", linestyle="--", label=f"teacher ({row['model']})")
        ax.set_xscale("log")
        ax.set_xlabel("parameters (pruned: sparse count, kept weight = 1.5)")
        ax.set_ylabel("weighted mean PCC with ground truth")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    return path


def write_report(out: Path, rows: list[dict[str, Any]], grid: list[dict[str, Any]], conditions: list[dict[str, Any]],
                 summary: dict[str, Any]) -> dict[str, Any]:
    paths = {
        "results": _write_csv(out / "results.csv", rows),
        "mix_grid": _write_csv(out / "mix_grid.csv", grid),
        "conditions": _write_csv(out / "conditions.csv", conditions),
        "figure": plot_pcc_vs_params(rows, out / "pcc_vs_params.png"),
    }
    seeds = over_seeds(rows)
    table = table_markdown(rows) + (f"\nOver seeds:\n\n{seeds_markdown(seeds)}" if seeds else "")
    (out / "table.md").write_text(table)
    paths["table"] = out / "table.md"
    report = {"rows": rows, "over_seeds": seeds, "mix_grid": grid, "conditions": conditions, **summary}
    (out / "results.json").write_text(json.dumps(report, indent=2, default=float))
    paths["json"] = out / "results.json"
    return {**report, "table": table, "paths": {k: str(v) for k, v in paths.items()}}

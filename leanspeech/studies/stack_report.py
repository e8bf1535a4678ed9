"""The stacked-compression study's report: results.md (one row per stage: score, cost, latency, and the
change against the base model), results.json, and metrics.json in the several-points schema that
`leanspeech report` reads, so the stages land on the task's Pareto plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _change(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "—"
    return f"{100 * (value / base - 1):+.1f} %"


def markdown_table(summary: dict[str, Any]) -> str:
    """One row per stage. MAC/s: full-precision multiply-adds (binary ones apart); sparse parameters count
    a kept weight of a pruned tensor as 1.5 (value + index)."""
    metric, stages = summary["metric"], summary["stages"]
    base = stages[0]["costs"]
    streaming = "runtime_latency_ms" in base
    header = (f"| stage | method | {metric} | params | sparse params | M MAC/s | M binary MAC/s | MFLOP/s | vs base "
              "| file KB | PyTorch ms | vs base |" + (" runtime ms | vs base |" if streaming else ""))
    rows = [header, "|---|---|" + "---:|" * (header.count("|") - 3)]
    for stage in stages:
        costs = stage["costs"]
        row = (f"| {stage['label']} | {stage['method']} | {stage['scores'][metric]:.4f} | {costs['params']:,.0f} | "
               f"{costs['sparse_params']:,.0f} | {costs['macs_per_second'] / 1e6:.2f} | "
               f"{(costs['binary_macs_per_second'] or 0) / 1e6:.2f} | {costs['flops_per_second'] / 1e6:.2f} | "
               f"{_change(costs['flops_per_second'], base['flops_per_second'])} | {costs['file_bytes'] / 1e3:.1f} | "
               f"{costs['latency_ms']:.3f} | {_change(costs['latency_ms'], base['latency_ms'])} |")
        if streaming:
            runtime = costs.get("runtime_latency_ms")
            row += (f" {runtime:.3f} | {_change(runtime, base['runtime_latency_ms'])} |" if runtime is not None
                    else " — | — |")
        rows.append(row)
    return "\n".join(rows)


def report_points(summary: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """One `leanspeech report` point per stage (the base included, so the stack reads as a path)."""
    keys = ("params", "macs_per_second", "flops_per_second", "latency_ms", "rtf")
    return [{"task": summary["task"], "name": f"{name}: {stage['label']} (stage {stage['stage']})",
             "method": stage["method"], "kind": "ours", "series": name,
             "metric": {"name": summary["metric"], "value": stage["scores"][summary["metric"]],
                        "higher_is_better": summary["higher_is_better"]},
             "complexity": {k: stage["costs"][k] for k in keys}} for stage in summary["stages"]]


def write_report(summary: dict[str, Any], out: Path) -> dict[str, Path]:
    table = markdown_table(summary)
    text = (f"# Stacked compression: {out.name}\n\nTask {summary['task']}, base model `{summary['base']}`; "
            f"every stage scored on the same test set. Latency: median ms for one test input "
            f"({summary['seconds']:g} s of audio), batch 1, one thread, stages timed interleaved "
            f"({summary['config']['latency_repeats']} repetitions): in PyTorch (the whole model, front end "
            f"included) and, where it runs the model, in the streaming runtime (frame by frame after the front "
            f"end; int8 stages with int8 runtime weights).\n\n{table}\n")
    paths = {"results.md": out / "results.md", "results.json": out / "results.json", "metrics.json": out / "metrics.json"}
    paths["results.md"].write_text(text)
    paths["results.json"].write_text(json.dumps(summary, indent=2))
    paths["metrics.json"].write_text(json.dumps({"points": report_points(summary, out.name)}, indent=2))
    return paths

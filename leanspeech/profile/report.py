"""Profile output: a tree-indented table in the terminal (rich), CSV of the layers, JSON of everything."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from leanspeech.profile.model_profile import ModelProfile

CSV_COLUMNS = (
    "name", "kind", "depth", "status", "calls", "params", "effective_params", "macs", "binary_macs", "flops",
    "activations", "activation_bits", "macs_per_second", "flops_per_second", "note",
)


def si(value: float | None, unit: str = "") -> str:
    """3 significant digits with an SI prefix: 188153025 → '188M'."""
    if value is None:
        return "-"
    for threshold, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / threshold:.3g}{prefix}{unit}"
    return f"{value:.3g}{unit}"


def layer_rows(profile: ModelProfile) -> list[dict[str, object]]:
    rows = []
    for r in profile.layers:
        rate = profile.layer_per_second.get(r.name, {})
        rows.append({
            "name": r.name, "kind": r.kind, "depth": r.depth, "status": r.status, "calls": r.calls,
            "params": r.params, "effective_params": r.effective_params, "macs": r.macs, "binary_macs": r.binary_macs,
            "flops": r.flops, "activations": r.activations, "activation_bits": r.activation_bits,
            "macs_per_second": rate.get("macs"), "flops_per_second": rate.get("flops"), "note": r.note,
        })
    return rows


def write_csv(profile: ModelProfile, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(layer_rows(profile))
    return path


def write_json(profile: ModelProfile, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = profile.to_dict()
    data["layers"] = layer_rows(profile)
    path.write_text(json.dumps(data, indent=2))
    return path


def layer_table(profile: ModelProfile) -> Table:
    rates = bool(profile.per_second)
    table = Table(title=f"{profile.model}: cost per layer, per sample", title_justify="left")
    columns = ["layer", "type", "params", "MACs", "binary MACs", "FLOPs", "FLOP/s", "activations", "note"]
    for column in columns if rates else [c for c in columns if c != "FLOP/s"]:
        text = column in ("layer", "type", "note")
        table.add_column(column, justify="left" if text else "right", no_wrap=column != "note")
    batch = profile.batch
    for r in profile.layers:
        name = "  " * r.depth + (r.name.rsplit(".", 1)[-1] if r.depth else r.name)
        counted = r.counts_cost
        note = r.note if r.status in ("counted", "container") else f"[{r.status}] {r.note}".strip()
        style = "bold red" if r.status == "unknown" else "dim" if not counted else None
        cells = [
            name, r.kind, si(r.params),
            si(r.macs / batch) if counted else "", si(r.binary_macs / batch) if r.binary_macs else "",
            si(r.flops / batch) if counted else "",
        ]
        if rates:
            rate = profile.layer_per_second.get(r.name, {}).get("flops")
            cells.append(si(rate) if rate is not None else "")
        cells += [si(r.activations / batch) if counted and r.activations else "", note]
        table.add_row(*cells, style=style)
    return table


def summary_lines(profile: ModelProfile) -> list[str]:
    p = profile.params
    lines = [
        f"parameters: {p.dense:,} dense, {p.nonzero:,} nonzero, {p.sparse:,.0f} in sparse storage (kept weight = 1.5), "
        f"{profile.effective_params:,.0f} effective",
        f"per forward of one sample: {profile.macs:,.0f} MACs, {profile.binary_macs:,.0f} binary MACs, {profile.flops:,.0f} FLOPs",
    ]
    if profile.per_second:
        base = "ops per frame × frames per second" if profile.frame_model else "per input second"
        lines.append(
            f"per second of audio ({base}): {si(profile.per_second['macs'], ' MAC/s')}, "
            f"{si(profile.per_second['flops'], ' FLOP/s')}, {si(profile.per_second['binary_macs'], ' binary MAC/s')}"
        )
    own_width = any(r.activation_bits not in (None, profile.bits) for r in profile.layers if r.counts_cost)
    lines.append(
        f"activations per sample: {profile.activations:,.0f} = {si(profile.activation_bytes, 'B')} at {profile.bits} bit"
        f"{' (binary and integer outputs at their own width)' if own_width else ''}; "
        f"inference memory {si(profile.memory_bytes, 'B')} (input {profile.input_bits} bit, weights {profile.weight_bits} bit"
        + (f", {p.quantized:,} of them stored as {p.quantized_bits // p.quantized}-bit integers)" if p.quantized else ")")
    )
    if profile.file_bytes is not None:
        lines.append(f"model file: {si(profile.file_bytes, 'B')} ({profile.file_bytes:,} bytes)")
    for timing in (profile.latency or {}).get("timings", []):
        rtf = f", real-time factor {timing['real_time_factor']:.4f}" if timing["real_time_factor"] is not None else ""
        lines.append(
            f"latency batch {timing['batch']}: median {timing['median_s'] * 1e3:.2f} ms "
            f"(min {timing['min_s'] * 1e3:.2f}, max {timing['max_s'] * 1e3:.2f}, {timing['repeats']} runs){rtf}"
        )
    if not profile.complete:
        lines.append(f"INCOMPLETE: no counting rule for {', '.join(profile.unknown)}; their cost is not in the totals")
    return lines


def print_profile(profile: ModelProfile, console: Console | None = None) -> None:
    # Off a terminal rich assumes 80 columns; a layer table needs more to stay readable in logs.
    console = console or Console(width=None if Console().is_terminal else 160)
    console.print(layer_table(profile))
    for line in summary_lines(profile):
        console.print(line, style="bold red" if line.startswith("INCOMPLETE") else None, highlight=False)

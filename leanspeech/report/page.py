"""The report's outputs: results.csv, results.md and index.html (self-contained: PNGs inlined as data URIs)."""

from __future__ import annotations

import base64
import csv
import html
from pathlib import Path

from leanspeech.report.points import POINT_FIELDS, Incomplete, Point

COLUMNS = (  # (header, attribute, format)
    ("task", "task", "{}"), ("name", "name", "{}"), ("method", "method", "{}"), ("kind", "kind", "{}"),
    ("metric", "metric", "{}"), ("value", "value", "{:.4g}"), ("params", "params", "{:,.0f}"),
    ("MMAC/s", "macs_per_second", "{:.3f}"), ("MFLOP/s", "flops_per_second", "{:.3f}"),
    ("activation KiB", "activation_bytes", "{:.1f}"), ("latency ms", "latency_ms", "{:.3f}"), ("RTF", "rtf", "{:.4f}"),
)
SCALE = {"macs_per_second": 1e-6, "flops_per_second": 1e-6, "activation_bytes": 1 / 1024}


def _cell(point: Point, attribute: str, fmt: str) -> str:
    value = getattr(point, attribute)
    if value is None:
        return "–"
    return fmt.format(value * SCALE.get(attribute, 1))


def write_csv(points: list[Point], path: Path) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=POINT_FIELDS)
        writer.writeheader()
        writer.writerows(p.to_dict() for p in points)
    return path


def markdown_table(points: list[Point]) -> str:
    lines = ["| " + " | ".join(h for h, _, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cell(p, a, f) for _, a, f in COLUMNS) + " |" for p in points]
    return "\n".join(lines)


def write_markdown(groups: dict[str, list[Point]], plots: dict[str, list[Path]], incomplete: list[Incomplete],
                   path: Path) -> Path:
    text = ["# Trade-off report", ""]
    for task, points in groups.items():
        text += [f"## {task}", "", markdown_table(points), ""]
        text += [f"![{p.stem}]({p.name})" for p in plots.get(task, [])] + [""]
    if incomplete:
        text += ["## Incomplete runs", ""] + [f"- `{i.source}`: {i.reason}" for i in incomplete] + [""]
    path.write_text("\n".join(text))
    return path


def _html_table(points: list[Point]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h, _, _ in COLUMNS)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(p, a, f))}</td>" for _, a, f in COLUMNS) + "</tr>" for p in points
    )
    return f'<table class="results"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _inline_png(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


STYLE = """body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #bbb;padding:3px 7px;font-size:13px;text-align:right}th{background:#eee}
td:nth-child(-n+5){text-align:left}img{max-width:48%;margin:4px}"""


def write_html(groups: dict[str, list[Point]], plots: dict[str, list[Path]], incomplete: list[Incomplete],
               path: Path) -> Path:
    body = ["<h1>Trade-off report</h1>",
            "<p>Each task's metric against its cost per second of audio and its measured latency; the black "
            "step line is the Pareto front, hollow squares are published peers.</p>"]
    for task, points in groups.items():
        body += [f'<section id="task-{html.escape(task)}"><h2>{html.escape(task)}</h2>', _html_table(points)]
        body += [_inline_png(p) for p in plots.get(task, [])] + ["</section>"]
    if incomplete:
        items = "".join(f"<li><code>{html.escape(i.source)}</code>: {html.escape(i.reason)}</li>" for i in incomplete)
        body.append(f'<section id="incomplete"><h2>Incomplete runs</h2><ul>{items}</ul></section>')
    page = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>leanspeech report</title>'
            f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>")
    path.write_text(page)
    return path

"""Pareto fronts and their plots: task metric against a cost (FLOP/s or latency), one marker per method."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from leanspeech.report.figure import saved_figure
from leanspeech.report.points import Point

MARKERS = "osD^v<>phX*P"
CROWDED = 12  # more points than this: only the Pareto front and the peers are labelled
PEER_MARKER = "s"
AXES = {  # cost attribute → (axis label, scale to the plotted unit)
    "flops_per_second": ("MFLOP/s (per second of audio)", 1e-6),
    "latency_ms": ("latency (ms per forward, batch 1)", 1.0),
}


def pareto_front(costs: Sequence[float], values: Sequence[float], higher_is_better: bool) -> list[int]:
    """Indices of the points no other point beats: none has lower-or-equal cost and a better-or-equal
    metric with one of them strictly better. Sorted by cost."""
    sign = -1.0 if higher_is_better else 1.0  # compare "loss": lower is better on both axes
    order = sorted(range(len(costs)), key=lambda i: (costs[i], sign * values[i]))
    front, best = [], float("inf")
    for i in order:
        if sign * values[i] < best:
            front.append(i)
            best = sign * values[i]
    return front


def labelled(points: list[Point], front: list[Point]) -> list[Point]:
    """The points a plot names: all, or in a crowded plot only the front and the peers (the table names all)."""
    if len(points) <= CROWDED:
        return points
    return [p for p in points if p.kind == "peer" or any(p is f for f in front)]


def plot_front(points: list[Point], cost: str, path: Path) -> Path | None:
    """Metric vs `cost` of one task's points (those that have it), the front drawn as a step line and each
    series (a stack's stages) as a dotted path."""
    usable = [p for p in points if getattr(p, cost) is not None]
    if not usable:
        return None
    label, scale = AXES[cost]
    metric, higher = usable[0].metric, usable[0].higher_is_better
    with saved_figure(path, figsize=(6.4, 4.4), dpi=110) as (fig, ax):
        methods = sorted({p.method for p in usable if p.kind == "ours"})
        front = [usable[i] for i in pareto_front([getattr(p, cost) for p in usable], [p.value for p in usable], higher)]
        for series in sorted({p.series for p in usable if p.series}):
            stages = [p for p in usable if p.series == series]
            ax.plot([getattr(p, cost) * scale for p in stages], [p.value for p in stages], color="0.6", linewidth=0.8,
                    linestyle=":", zorder=2)
        named = labelled(usable, front)
        for p in usable:
            marker = PEER_MARKER if p.kind == "peer" else MARKERS[methods.index(p.method) % len(MARKERS)]
            color = "0.45" if p.kind == "peer" else f"C{methods.index(p.method) % 10}"
            ax.scatter(getattr(p, cost) * scale, p.value, marker=marker, color=color, s=42, zorder=3,
                       facecolors="none" if p.kind == "peer" else color)
            if any(p is n for n in named):
                ax.annotate(p.name, (getattr(p, cost) * scale, p.value), textcoords="offset points", xytext=(5, 4),
                            fontsize=7)
        ax.step([getattr(p, cost) * scale for p in front], [p.value for p in front], where="post", color="k",
                linewidth=1, alpha=0.6, label="Pareto front")
        for i, method in enumerate(methods):
            ax.scatter([], [], marker=MARKERS[i % len(MARKERS)], color=f"C{i % 10}", label=method)
        if any(p.kind == "peer" for p in usable):
            ax.scatter([], [], marker=PEER_MARKER, facecolors="none", color="0.45", label="peer")
        if max(getattr(p, cost) for p in usable) > 10 * min(getattr(p, cost) for p in usable) > 0:
            ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel(f"{metric} ({'higher' if higher else 'lower'} is better)")
        ax.set_title(f"{usable[0].task}: {metric} vs {label.split(' (')[0]}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    return path

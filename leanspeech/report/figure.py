"""Figures written to files: one place for the backend and for how a figure is laid out, saved and closed."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

DPI = 120


@contextlib.contextmanager
def saved_figure(path: str | Path, *grid: int, tight: bool = True, dpi: int = DPI, **subplots: Any) -> Iterator[tuple[Any, Any]]:
    """`plt.subplots(*grid, **subplots)` as (figure, axes); when the block ends the figure is laid out
    (`tight`), written to `path` and closed — closed also when the block raises. Agg backend: files only,
    no display needed on a server; matplotlib is imported on the first figure, not with the module."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(*grid, **subplots)
    try:
        yield figure, axes
        if tight:
            figure.tight_layout()
        figure.savefig(path, dpi=dpi)
    finally:
        plt.close(figure)

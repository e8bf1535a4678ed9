"""A study's run folder is reused on a re-run once finished: its model and metrics.json (written last) exist."""

from __future__ import annotations

from pathlib import Path


def is_finished(run_dir: Path, also: tuple[str, ...] = ()) -> bool:
    """True when `model.pt`, `metrics.json` and the files in `also` are all in `run_dir`."""
    return all((run_dir / name).is_file() for name in ("model.pt", "metrics.json", *also))

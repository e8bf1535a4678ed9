"""Where the models shipped inside the package live: `leanspeech/assets/<task>/default.pt`, each with a
README.md that says how it was trained and what it scored. Import-light (no torch): the CLI's --help
reads these paths."""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "assets"


def bundled_model(task: str) -> Path:
    """The bundled default model of `task` (vad, spoof, quality, enhance); the path may be missing in a
    checkout whose assets were not installed."""
    return ASSETS / task / "default.pt"

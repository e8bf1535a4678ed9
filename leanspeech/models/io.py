"""Saving and loading whole models: name + config + weights, loadable with weights_only=True."""

from __future__ import annotations

from pathlib import Path

import torch

from leanspeech import __version__
from leanspeech.errors import LeanspeechError
from leanspeech.models.base import SpeechModel
from leanspeech.registry import MODELS

FORMAT = "leanspeech-model"
FORMAT_VERSION = 1


def save_model(model: SpeechModel, path: str | Path) -> Path:
    if not model.registry_name:
        raise LeanspeechError(f"{type(model).__name__} is not registered in MODELS; it cannot be rebuilt on load")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "leanspeech_version": __version__,
            "name": model.registry_name,
            "config": model.get_config(),
            "state_dict": model.state_dict(),
        },
        path,
    )
    return path


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> SpeechModel:
    """Rebuild a model saved by `save_model`. Never unpickles arbitrary objects (weights_only=True)."""
    import leanspeech.models  # noqa: F401  (fills the registry)

    path = Path(path)
    if not path.is_file():
        raise LeanspeechError(f"{path}: model file does not exist")
    try:
        blob = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or foreign files
        raise LeanspeechError(f"{path}: not a loadable model file ({err})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise LeanspeechError(f"{path}: not a leanspeech model file")
    if blob.get("format_version", 0) > FORMAT_VERSION:
        raise LeanspeechError(
            f"{path}: saved by a newer leanspeech (format {blob['format_version']}, this one reads {FORMAT_VERSION})"
        )
    model = MODELS.build(blob["name"], **blob["config"])
    model.load_state_dict(blob["state_dict"])
    return model.eval()

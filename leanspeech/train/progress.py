"""Mid-run checkpoints of the studies' training loops: a killed run goes on from its last checkpoint and
ends as an uninterrupted run would (a loop over `endless_batches` resumes it with `skip=step`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

CHECKPOINT_EVERY = 50  # steps between the checkpoints of loops that have no evaluations to time them


def save_progress(path: Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer, **state: Any) -> None:
    """Weights, optimizer, global RNG and the loop's own `state` after `step` (written atomically)."""
    blob = {"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "rng": torch.get_rng_state(), "state": state}
    partial = path.with_suffix(".partial")
    torch.save(blob, partial)
    partial.replace(path)


def load_progress(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[int, dict[str, Any]]:
    """Restores what `save_progress` wrote into `model`, `optimizer` and the global RNG; returns the
    step and the loop's state."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(blob["model"])
        optimizer.load_state_dict(blob["optimizer"])
    except (RuntimeError, ValueError) as error:
        raise RuntimeError(f"{path}: does not fit this run ({error}); delete it to train the run from the start") from None
    torch.set_rng_state(blob["rng"])
    return blob["step"], blob["state"]

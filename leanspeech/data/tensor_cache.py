"""Per-clip tensors computed once, saved a chunk at a time and memory-mapped back: features, teacher frames.

A study over hours of audio cannot hold every clip's features in RAM (360 minutes of compressed complex
spectrograms are 2.6 GiB in float32; the paper's corpora are thousands of hours). `cached_tensors` saves
each chunk of clips as one `torch.save` file of {key: tensor} and loads every chunk with
`torch.load(..., mmap=True, weights_only=True)`: each clip is then a tensor on a private file mapping,
pages the OS reads when training touches them and may drop again under memory pressure (clean file
pages, not process memory), with the strides it was saved with (the layout matters: a convolution over a
channels-last clip and over a contiguous copy of it round differently). A chunk is written under a
temporary name and renamed, so a killed run keeps every finished chunk and computes only the rest.
`recipe` says how the tensors were made (recipe.json); a folder made by another recipe starts over.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import Tensor
from tqdm import tqdm

log = logging.getLogger(__name__)

RECIPE = "recipe.json"


def chunk_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("chunk-*.pt"))


def load_chunks(folder: Path, recipe: dict[str, Any]) -> dict[str, Tensor]:
    """The mapped tensors of every readable chunk in `folder`; chunks made by another recipe, or that cannot
    be read, are deleted with a warning (they are recomputed)."""
    recipe_file = folder / RECIPE
    saved = json.loads(recipe_file.read_text()) if recipe_file.is_file() else None
    if saved is not None and saved != json.loads(json.dumps(recipe)):
        log.warning("%s: tensors made by another recipe (%s, now %s); computing them again", folder, saved, recipe)
        for file in chunk_files(folder):
            file.unlink()
    recipe_file.write_text(json.dumps(recipe))
    cached: dict[str, Tensor] = {}
    for file in chunk_files(folder):
        try:
            cached.update(torch.load(file, weights_only=True, mmap=True))
        except (RuntimeError, OSError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
            log.warning("%s: unreadable (%s); its clips are computed again", file, err)
            file.unlink()
    return cached


def compact(tensor: Tensor) -> Tensor:
    """`tensor` alone on its storage, strides kept (torch.save writes a view's whole storage)."""
    if tensor.untyped_storage().nbytes() == tensor.numel() * tensor.element_size():
        return tensor
    return tensor.clone()


def release_freed_memory() -> None:
    """Hands heap memory that computing the tensors freed back to the OS. glibc keeps it for reuse (about
    2 GB after the teacher frames of the 360-minute corpus), and in a memory-limited job it crowds out the
    mapped features. A no-op where the C library is not glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def cached_tensors(folder: str | Path, keys: Sequence[str], compute: Callable[[list[int]], list[Tensor]], *,
                   recipe: dict[str, Any], chunk: int = 250, desc: str = "tensors") -> list[Tensor]:
    """The tensor of each key, memory-mapped from `folder`: computed by `compute(indices into keys)` for the
    keys no chunk holds, `chunk` keys per file (so a killed run resumes), and read for the others."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cached = load_chunks(folder, recipe)
    missing = [i for i, key in enumerate(keys) if key not in cached]
    files = chunk_files(folder)
    number = int(files[-1].stem.split("-")[1]) + 1 if files else 0
    with tqdm(total=len(missing), desc=desc, unit="clip", leave=False, disable=not missing) as bar:
        for start in range(0, len(missing), chunk):
            part = missing[start:start + chunk]
            target, partial = folder / f"chunk-{number:05d}.pt", folder / f"chunk-{number:05d}.pt.partial"
            torch.save({keys[i]: compact(t) for i, t in zip(part, compute(part))}, partial)
            os.replace(partial, target)
            cached.update(torch.load(target, weights_only=True, mmap=True))  # the saved copy; the computed ones go
            number += 1
            bar.update(len(part))
    if missing:
        release_freed_memory()
    return [cached[key] for key in keys]

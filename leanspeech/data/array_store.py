"""Per-clip arrays computed once and kept on disk, memory-mapped: spectrograms, teacher frames.

A study over hours of audio cannot hold every clip's features in RAM (360 minutes of compressed complex
spectrograms are 2.6 GiB in float32; the paper's corpora are thousands of hours). `cached_arrays`
appends each clip's array to one file (`values.bin`), in its own memory layout, and a line with its key,
offset, shape and layout to `index.jsonl`, then maps the file: each clip is a tensor view whose pages
the OS reads when training touches them and may drop again under memory pressure (they are clean file
pages, not process memory). Arrays are appended a chunk at a time, values before their index lines, so a
killed run keeps every finished chunk and computes only the rest (an index that is only ever appended to
costs the same per clip at any corpus size). `recipe` says how the arrays were made; a folder made by
another recipe is computed again rather than mixed. The layout is kept because it is not neutral: a
convolution over a channels-last clip and over a contiguous copy of it round differently.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

log = logging.getLogger(__name__)

VALUES, INDEX = "values.bin", "index.jsonl"
NUMPY_DTYPES = {torch.float32: np.float32, torch.float16: np.float16}


class ArrayStore:
    """An append-only file of arrays and an append-only index: a first line with the recipe, then one line
    [key, offset in elements, shape, order] per array, written after its values are on disk."""

    def __init__(self, folder: str | Path, dtype: torch.dtype, recipe: dict[str, Any]):
        if dtype not in NUMPY_DTYPES:
            raise ValueError(f"dtype must be one of {list(NUMPY_DTYPES)}, got {dtype}")
        self.folder, self.dtype = Path(folder), dtype
        self.recipe = json.loads(json.dumps({**recipe, "dtype": str(dtype)}))  # as it reads back from JSON
        self.folder.mkdir(parents=True, exist_ok=True)
        self.arrays: dict[str, tuple[int, list[int], list[int]]] = {}
        lines = self.index_lines()
        if lines and lines[0] != self.recipe:
            log.warning("%s: arrays made by another recipe (%s, now %s); computing them again",
                        self.folder, lines[0], self.recipe)
            lines = []
        for key, *entry in lines[1:]:
            self.arrays[key] = tuple(entry)
        self.end = max((offset + math.prod(shape) for offset, shape, _ in self.arrays.values()), default=0)
        # the index as read (a torn last line dropped) and the values it names: what a killed write left goes
        partial = self.folder / (INDEX + ".partial")
        partial.write_text("".join(json.dumps(line) + "\n" for line in [self.recipe, *lines[1:]]))
        os.replace(partial, self.folder / INDEX)
        with open(self.folder / VALUES, "ab") as values:
            values.truncate(self.end * self.itemsize)

    def index_lines(self) -> list[Any]:
        """The index's lines up to the first unreadable one (a write cut short by a kill)."""
        path, lines = self.folder / INDEX, []
        for line in path.read_text().splitlines() if path.is_file() else []:
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                log.warning("%s: index line %d unreadable (interrupted write); dropped with what follows",
                            path, len(lines) + 1)
                break
        return lines

    @property
    def itemsize(self) -> int:
        return np.dtype(NUMPY_DTYPES[self.dtype]).itemsize

    def __contains__(self, key: str) -> bool:
        return key in self.arrays

    def append(self, arrays: dict[str, Tensor]) -> None:
        """Writes the arrays after the last indexed one, then the index lines that make them visible."""
        lines = []
        with open(self.folder / VALUES, "r+b") as values:
            values.seek(self.end * self.itemsize)
            for key, array in arrays.items():
                order = memory_order(array)
                data = array.detach().to(self.dtype).permute(order).contiguous().numpy()
                values.write(data.tobytes())
                self.arrays[key] = (self.end, list(array.shape), order)
                lines.append(json.dumps([key, *self.arrays[key]]) + "\n")
                self.end += data.size
            values.flush()
            os.fsync(values.fileno())
        with open(self.folder / INDEX, "a") as index:
            index.write("".join(lines))

    def views(self, keys: Sequence[str]) -> list[Tensor]:
        """The arrays of `keys` as tensors on the mapped file (copy-on-write: writing to one changes
        neither the file nor the other views)."""
        if self.end == 0:  # an empty file cannot be mapped
            return [torch.empty(self.arrays[key][1], dtype=self.dtype) for key in keys]
        mapped = np.memmap(self.folder / VALUES, dtype=NUMPY_DTYPES[self.dtype], mode="c", shape=(self.end,))
        flat = torch.from_numpy(mapped)
        out = []
        for key in keys:
            offset, shape, order = self.arrays[key]
            stored = flat[offset:offset + math.prod(shape)].view([shape[d] for d in order])
            out.append(stored.permute(sorted(range(len(order)), key=order.__getitem__)))
        return out


def memory_order(array: Tensor) -> list[int]:
    """The dimensions of `array` from the outermost in memory to the innermost (contiguous: 0, 1, ...)."""
    return sorted(range(array.dim()), key=lambda d: (-array.stride(d), d))


def cached_arrays(folder: str | Path, keys: Sequence[str], compute: Callable[[list[int]], list[Tensor]], *,
                  dtype: torch.dtype, recipe: dict[str, Any], chunk: int = 250, desc: str = "arrays") -> list[Tensor]:
    """The array of each key, memory-mapped from `folder`: computed by `compute(indices into keys)` for
    the keys the store lacks, a chunk at a time (so a killed run resumes), and read for the others."""
    store = ArrayStore(folder, dtype, recipe)
    missing = [i for i, key in enumerate(keys) if key not in store]
    with tqdm(total=len(missing), desc=desc, unit="clip", leave=False, disable=not missing) as bar:
        for start in range(0, len(missing), chunk):
            part = missing[start:start + chunk]
            store.append(dict(zip((keys[i] for i in part), compute(part))))
            bar.update(len(part))
    return store.views(keys)

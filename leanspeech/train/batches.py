"""Endless shuffled training batches for the studies' step-counted training loops."""

from __future__ import annotations

import itertools
from typing import Any, Iterator

import torch
from torch.utils.data import DataLoader, Dataset


def endless_batches(dataset: Dataset, batch_size: int, seed: int, workers: int = 0, skip: int = 0) -> Iterator[Any]:
    """Shuffled batches, pass after pass; a dataset with `set_epoch` is told each pass (fresh crops or
    mixes). A split smaller than one batch gives short batches rather than none. The first `skip`
    batches are passed over without loading them, so a resumed run goes on with the batches it would
    have seen."""
    generator = torch.Generator().manual_seed(seed)
    drop_last = len(dataset) >= batch_size
    for epoch in itertools.count():
        # the pass's index batches, drawn from `generator` exactly as a shuffling DataLoader of `dataset` draws them
        order = [b.tolist() for b in DataLoader(range(len(dataset)), batch_size=batch_size, shuffle=True,
                                                drop_last=drop_last, generator=generator)]
        if skip >= len(order):
            skip -= len(order)
            continue
        if callable(getattr(dataset, "set_epoch", None)):
            dataset.set_epoch(epoch)  # workers are created anew each pass, so they see it
        # a generator of its own, so that loading draws nothing from `generator` or the global RNG
        yield from DataLoader(dataset, batch_sampler=order[skip:], num_workers=workers, generator=torch.Generator())
        skip = 0

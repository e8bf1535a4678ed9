"""Data loaders from a recipe's `data` section: one registered dataset, built per split."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from leanspeech.registry import DATASETS

# Keys of the `data` section that configure the loaders; every other key is a dataset argument.
LOADER_KEYS = ("name", "batch_size", "val_batch_size", "num_workers", "train", "val")


def dataset_kwargs(data: dict[str, Any], split: str) -> dict[str, Any]:
    """The dataset's arguments for `split`: the shared keys, overridden by `data.<split>`."""
    shared = {k: v for k, v in data.items() if k not in LOADER_KEYS}
    return {**shared, **(data[split] or {})}


def build_dataset(data: dict[str, Any], split: str) -> Dataset:
    return DATASETS.build(data["name"], **dataset_kwargs(data, split))


def build_loaders(data: dict[str, Any], seed: int) -> tuple[DataLoader, DataLoader | None]:
    """(train loader, validation loader or None when the recipe has no `data.val`)."""
    workers = data["num_workers"]

    def loader(dataset: Dataset, batch_size: int, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            num_workers=workers,
            # Workers hold a copy of the dataset: an epoch-aware one needs fresh workers to see its epoch.
            persistent_workers=workers > 0 and not callable(getattr(dataset, "set_epoch", None)),
            collate_fn=getattr(dataset, "collate_fn", None),  # a dataset with ragged items brings its own
            generator=torch.Generator().manual_seed(seed) if shuffle else None,
        )

    train = loader(build_dataset(data, "train"), data["batch_size"], shuffle=True)
    if data["val"] is None:
        return train, None
    val = loader(build_dataset(data, "val"), data["val_batch_size"] or data["batch_size"], shuffle=False)
    return train, val

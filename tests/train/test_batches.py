"""endless_batches: the order of a shuffling DataLoader pass after pass, epochs told to the dataset,
and skipping for resumed runs without loading what is skipped."""

import itertools

import torch
from torch.utils.data import DataLoader, Dataset

from leanspeech.train.batches import endless_batches


class Items(Dataset):
    """Item i of epoch e is (e, i); counts its loads."""

    def __init__(self, size: int):
        self.size, self.epoch, self.loads = size, 0, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> torch.Tensor:
        self.loads += 1
        return torch.tensor([self.epoch, index])


def test_same_batches_as_a_shuffling_dataloader_with_fresh_epochs():
    generator = torch.Generator().manual_seed(7)
    expected = []
    for epoch in range(3):
        data = Items(10)
        data.set_epoch(epoch)
        expected += list(DataLoader(data, batch_size=4, shuffle=True, drop_last=True, generator=generator))
    got = list(itertools.islice(endless_batches(Items(10), 4, seed=7), 6))
    assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))
    assert [int(b[0, 0]) for b in got] == [0, 0, 1, 1, 2, 2]  # two full batches of 4 per pass over 10 items


def test_skip_passes_over_batches_without_loading_them():
    whole = list(itertools.islice(endless_batches(Items(10), 4, seed=3), 7))
    data = Items(10)
    resumed = list(itertools.islice(endless_batches(data, 4, seed=3, skip=5), 2))
    assert all(torch.equal(a, b) for a, b in zip(resumed, whole[5:], strict=True))
    assert data.loads == 8  # only the two batches returned were loaded


def test_split_smaller_than_a_batch_gives_short_batches():
    batches = list(itertools.islice(endless_batches(Items(3), 8, seed=0), 2))
    assert [len(b) for b in batches] == [3, 3] and sorted(batches[0][:, 1].tolist()) == [0, 1, 2]

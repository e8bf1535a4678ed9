"""Per-clip tensors saved a chunk at a time and memory-mapped back: values, layout, resuming, recipes."""

from __future__ import annotations

import pytest
import torch

from leanspeech.data.tensor_cache import cached_tensors, chunk_files


def tensors(n: int, dtype=torch.float32) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(n)
    return [torch.randn(2, 3, 5 + k, generator=generator).to(dtype) for k in range(n)]


def counting(values):
    computed = []

    def compute(part):
        computed.extend(part)
        return [values[i] for i in part]
    return compute, computed


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_tensors_come_back_equal_a_file_per_chunk(tmp_path, dtype):
    values = tensors(5, dtype)
    compute, computed = counting(values)
    got = cached_tensors(tmp_path, list("abcde"), compute, recipe={"r": 1}, chunk=2)
    assert computed == [0, 1, 2, 3, 4] and len(chunk_files(tmp_path)) == 3
    assert all(g.dtype == dtype and torch.equal(g, v) for g, v in zip(got, values))


def test_tensors_keep_their_memory_layout_and_only_their_own_values(tmp_path):
    """The quality front end returns (2, F, T) laid out as (F, T, 2): a copy in another layout would make a
    convolution over it round differently, and a resumed study would no longer repeat the old one."""
    frames_last = torch.randn(161, 7, 2).permute(2, 0, 1)
    big = torch.randn(1000, 4)
    values = [frames_last, torch.randn(4, 3).t(), big[:2]]  # the last a view of a far larger storage
    got = cached_tensors(tmp_path, list("abc"), counting(values)[0], recipe={})
    assert all(g.stride() == v.stride() and torch.equal(g, v) for g, v in zip(got, values))
    assert chunk_files(tmp_path)[0].stat().st_size < big.numel() * 4  # not the 1000 rows behind the view


def test_a_rerun_computes_only_missing_keys_in_the_order_asked(tmp_path):
    values = tensors(4)
    compute, computed = counting(values)
    cached_tensors(tmp_path, ["a", "b"], compute, recipe={})
    again = cached_tensors(tmp_path, ["c", "a", "d", "b"], lambda part: compute([{0: 2, 2: 3}[i] for i in part]),
                           recipe={})
    assert computed == [0, 1, 2, 3]  # a and b were not computed twice
    assert all(torch.equal(g, values[i]) for g, i in zip(again, [2, 0, 3, 1]))


def test_a_killed_run_keeps_finished_chunks_and_skips_a_broken_one(tmp_path):
    values = tensors(5)
    compute, computed = counting(values)

    def dies_in_the_second_chunk(part):
        if 2 in part:
            (tmp_path / "chunk-00001.pt.partial").write_bytes(b"half a chunk")
            raise KeyboardInterrupt
        return compute(part)

    with pytest.raises(KeyboardInterrupt):
        cached_tensors(tmp_path, list("abcde"), dies_in_the_second_chunk, recipe={}, chunk=2)
    (tmp_path / "chunk-00007.pt").write_bytes(b"not a torch file")  # e.g. a disk that filled up
    got = cached_tensors(tmp_path, list("abcde"), compute, recipe={}, chunk=2)
    assert computed == [0, 1, 2, 3, 4]  # the first chunk once, then only the rest
    assert all(torch.equal(g, v) for g, v in zip(got, values))
    assert not (tmp_path / "chunk-00007.pt").exists()


def test_another_recipe_computes_everything_again(tmp_path):
    values = tensors(2)
    compute, computed = counting(values)
    cached_tensors(tmp_path, ["a", "b"], compute, recipe={"crop_seconds": 8.0})
    got = cached_tensors(tmp_path, ["a", "b"], compute, recipe={"crop_seconds": 4.0})
    assert computed == [0, 1, 0, 1] and len(chunk_files(tmp_path)) == 1
    assert all(torch.equal(g, v) for g, v in zip(got, values))


def test_writing_to_a_tensor_changes_neither_the_file_nor_a_later_read(tmp_path):
    values = tensors(2)
    got = cached_tensors(tmp_path, ["a", "b"], counting(values)[0], recipe={})
    got[0].zero_()
    assert torch.equal(cached_tensors(tmp_path, ["a"], counting(values)[0], recipe={})[0], values[0])


def test_nothing_to_cache(tmp_path):
    assert cached_tensors(tmp_path, [], lambda part: [], recipe={}) == []

"""The on-disk, memory-mapped store of per-clip arrays: values, resuming, recipes, copy-on-write."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from leanspeech.data.array_store import INDEX, VALUES, ArrayStore, cached_arrays


def arrays(n: int, dtype=torch.float32) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(n)
    return [torch.randn(2, 3, 5 + k, generator=generator).to(dtype) for k in range(n)]


def counting(values):
    computed = []

    def compute(part):
        computed.extend(part)
        return [values[i] for i in part]
    return compute, computed


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_arrays_come_back_equal_and_memory_mapped(tmp_path, dtype):
    values = arrays(5, dtype)
    compute, computed = counting(values)
    got = cached_arrays(tmp_path, list("abcde"), compute, dtype=dtype, recipe={"r": 1}, chunk=2)
    assert computed == [0, 1, 2, 3, 4]
    assert all(g.dtype == dtype and torch.equal(g, v) for g, v in zip(got, values))
    mapped = np.memmap(tmp_path / VALUES, dtype=np.float32 if dtype == torch.float32 else np.float16, mode="r")
    assert mapped.size == sum(v.numel() for v in values)  # the values live in the file, in key order
    assert torch.equal(torch.from_numpy(np.array(mapped[:values[0].numel()])).view(values[0].shape), values[0])


def test_arrays_keep_their_memory_layout(tmp_path):
    """The quality front end returns (2, F, T) laid out as (F, T, 2): a copy in another layout would make a
    convolution over it round differently, and a resumed study would no longer repeat the old one."""
    frames_last = torch.randn(161, 7, 2).permute(2, 0, 1)
    values = [frames_last, torch.randn(3, 4), torch.randn(4, 3).t(), torch.randn(2, 1, 3)]
    got = cached_arrays(tmp_path, list("abcd"), counting(values)[0], dtype=torch.float32, recipe={})
    assert all(g.stride() == v.stride() and torch.equal(g, v) for g, v in zip(got, values))


def test_a_rerun_computes_only_missing_keys_in_the_order_asked(tmp_path):
    values = arrays(4)
    compute, computed = counting(values)
    cached_arrays(tmp_path, ["a", "b"], compute, dtype=torch.float32, recipe={})
    again = cached_arrays(tmp_path, ["c", "a", "d", "b"], lambda part: compute([{0: 2, 2: 3}[i] for i in part]),
                          dtype=torch.float32, recipe={})
    assert computed == [0, 1, 2, 3]  # a and b were not computed twice
    assert all(torch.equal(g, values[i]) for g, i in zip(again, [2, 0, 3, 1]))


def test_a_killed_run_keeps_finished_chunks_and_drops_a_torn_write(tmp_path):
    values = arrays(5)
    compute, computed = counting(values)

    def dies_in_the_second_chunk(part):
        if 2 in part:
            with open(tmp_path / VALUES, "ab") as torn:  # half a chunk on disk, not in the index
                torn.write(b"\x01" * 10)
            raise KeyboardInterrupt
        return compute(part)

    with pytest.raises(KeyboardInterrupt):
        cached_arrays(tmp_path, list("abcde"), dies_in_the_second_chunk, dtype=torch.float32, recipe={}, chunk=2)
    with open(tmp_path / INDEX, "a") as torn:  # and an index line cut short
        torn.write('["c", 3')
    got = cached_arrays(tmp_path, list("abcde"), compute, dtype=torch.float32, recipe={}, chunk=2)
    assert computed == [0, 1, 2, 3, 4]  # the first chunk once, then only the rest
    assert all(torch.equal(g, v) for g, v in zip(got, values))
    assert (tmp_path / VALUES).stat().st_size == 4 * sum(v.numel() for v in values)  # the torn bytes are gone


def test_another_recipe_computes_everything_again(tmp_path):
    values = arrays(2)
    compute, computed = counting(values)
    cached_arrays(tmp_path, ["a", "b"], compute, dtype=torch.float32, recipe={"crop_seconds": 8.0})
    got = cached_arrays(tmp_path, ["a", "b"], compute, dtype=torch.float32, recipe={"crop_seconds": 4.0})
    assert computed == [0, 1, 0, 1]
    index = [json.loads(line) for line in (tmp_path / INDEX).read_text().splitlines()]
    assert index[0]["crop_seconds"] == 4.0 and [line[0] for line in index[1:]] == ["a", "b"]
    assert (tmp_path / VALUES).stat().st_size == 4 * sum(v.numel() for v in values)
    assert all(torch.equal(g, v) for g, v in zip(got, values))


def test_writing_to_a_view_changes_neither_the_file_nor_a_later_read(tmp_path):
    values = arrays(2)
    got = cached_arrays(tmp_path, ["a", "b"], counting(values)[0], dtype=torch.float32, recipe={})
    got[0].zero_()
    assert torch.equal(got[1], values[1])
    assert torch.equal(ArrayStore(tmp_path, torch.float32, {}).views(["a"])[0], values[0])


def test_an_empty_store_and_empty_arrays(tmp_path):
    assert cached_arrays(tmp_path, [], lambda part: [], dtype=torch.float32, recipe={}) == []
    got = cached_arrays(tmp_path, ["e"], lambda part: [torch.empty(2, 0)], dtype=torch.float32, recipe={})
    assert got[0].shape == (2, 0)


def test_unsupported_dtype_is_refused(tmp_path):
    with pytest.raises(ValueError, match="dtype must be one of"):
        ArrayStore(tmp_path, torch.int64, {})

"""Feature windows: random training windows and overlapping scoring windows are slices of their clip."""

import torch

from leanspeech.data.windows import overlapping_windows, padded, random_windows, window_starts


def test_windows_are_slices_of_their_clip_and_cover_it():
    clips = [torch.arange(n, dtype=torch.float32).expand(2, 3, n).clone() for n in (10, 25, 4)]
    cut = random_windows(clips, torch.tensor([1, 0, 1, 2]), 8, torch.Generator().manual_seed(0))
    assert cut.shape == (4, 2, 3, 8)
    for window in cut[:3]:  # consecutive frame numbers: a slice, not a copy of another place
        assert torch.equal(window[0, 0], window[0, 0, 0] + torch.arange(8.0))
    assert torch.equal(cut[3, 0, 0], torch.tensor([0, 1, 2, 3, 0, 0, 0, 0.0]))  # short clip: zero-padded
    assert padded(clips[1], 8) is clips[1]  # a long clip is not copied (a memory-mapped one would be read whole)
    windows = overlapping_windows(clips[1], 8)  # starts 0, 4, ..., 16 and one ending at frame 25
    assert [int(w[0, 0, 0]) for w in windows] == [0, 4, 8, 12, 16, 17]
    assert all(torch.equal(w[1, 2], w[1, 2, 0] + torch.arange(8.0)) for w in windows)
    assert windows.is_contiguous(memory_format=torch.channels_last)  # the students' layout: no copy there
    back_to_back = overlapping_windows(clips[1], 8, hop=8)  # no overlap but the last window's
    assert [int(w[0, 0, 0]) for w in back_to_back] == [0, 8, 16, 17]


def test_window_starts_end_on_the_last_frame():
    assert window_starts(25, 8, 8) == [0, 8, 16, 17]
    assert window_starts(24, 8, 8) == [0, 8, 16]
    assert window_starts(8, 8, 4) == [0]
    assert window_starts(3, 8, 8) == [0]  # shorter than one window: one window

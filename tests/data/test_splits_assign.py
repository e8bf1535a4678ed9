import pytest

from leanspeech.data.manifest import ManifestEntry
from leanspeech.data.splits import SPLIT_FRACTIONS, assign_groups, check_no_leakage, leaks, minutes_per_split
from leanspeech.errors import CorpusError


def entry(speaker, split, **extra):
    return ManifestEntry(f"{speaker}.flac", "speech", split, speaker, "t", 1.0, 16000, extra=extra)


def test_assign_groups_is_stable_and_fills_every_split():
    groups = [f"voice-{i}" for i in range(20)]
    first = assign_groups(groups)
    assert assign_groups(reversed(groups)) == first  # independent of order
    counts = {s: sum(1 for v in first.values() if v == s) for s in ("train", "dev", "test")}
    assert counts == {"train": 14, "dev": 3, "test": 3}
    assert set(first) == set(groups)


def test_assign_groups_small_sets():
    three = assign_groups(["a", "b", "c"])
    assert sorted(three.values()) == ["dev", "test", "train"]
    assert set(assign_groups(["a", "b"]).values()) == {"train"}


def test_minutes_per_split_sum():
    split = minutes_per_split(10)
    assert sum(split.values()) == pytest.approx(10)
    assert split["train"] == pytest.approx(10 * SPLIT_FRACTIONS["train"])


def test_leakage_is_found_for_speakers_and_babble_talkers():
    clean = [entry("a", "train"), entry("b", "dev"), entry("babble-1", "train", talkers="a")]
    assert leaks(clean) == {}
    check_no_leakage(clean)
    assert leaks(clean + [entry("a", "test")]) == {"a": {"train", "test"}}
    with pytest.raises(CorpusError, match="b in dev, train"):
        check_no_leakage(clean + [entry("babble-2", "train", talkers="a;b")])

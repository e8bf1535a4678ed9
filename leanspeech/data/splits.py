"""Train/dev/test assignment by speaker, voice or noise file, and the check that nothing leaks across.

Groups (a speaker, a TTS voice, a noise recording) are placed by a hash of their name, not by the
seed, so corpora built with different seeds or sizes agree on where every group lives.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Iterable

from leanspeech.data.manifest import SPLITS, ManifestEntry
from leanspeech.errors import CorpusError

SPLIT_FRACTIONS = {"train": 0.7, "dev": 0.15, "test": 0.15}

# Five recorded speakers, split so that train and test each hold a wav and a GSM-coded speaker:
# train Allison (en-US + es-MX, 56 min) and the Colombian-Spanish voice (GSM, 10 min),
# dev Carlo (it-IT, the one male, 24 min), test June (fr-CA, 26 min) and Armelle (fr-FR, GSM, 15 min).
HUMAN_SPEAKER_SPLITS = {"allison": "train", "es-co": "train", "carlo": "dev", "june": "test", "armelle": "test"}


def _stable_order(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


def assign_groups(groups: Iterable[str], fractions: dict[str, float] = SPLIT_FRACTIONS) -> dict[str, str]:
    """Map each group to a split. With three or more groups every split gets at least one; fewer go to train."""
    ordered = sorted(set(groups), key=_stable_order)
    n = len(ordered)
    if n < len(SPLITS):
        return {g: "train" for g in ordered}
    counts = {s: max(1, round(n * fractions[s])) for s in ("dev", "test")}
    counts["train"] = n - counts["dev"] - counts["test"]
    if counts["train"] < 1:
        counts = {"train": n - 2, "dev": 1, "test": 1}
    assignment, start = {}, 0
    for split in SPLITS:
        for group in ordered[start:start + counts[split]]:
            assignment[group] = split
        start += counts[split]
    return assignment


def minutes_per_split(total: float, fractions: dict[str, float] = SPLIT_FRACTIONS) -> dict[str, float]:
    return {s: total * fractions[s] for s in SPLITS}


def leaks(entries: Iterable[ManifestEntry]) -> dict[str, set[str]]:
    """Groups found in more than one split: a speaker field, or a talker mixed into babble."""
    where: dict[str, set[str]] = defaultdict(set)
    for e in entries:
        where[e.speaker].add(e.split)
        for talker in filter(None, e.extra.get("talkers", "").split(";")):
            where[talker].add(e.split)
    return {group: splits for group, splits in where.items() if len(splits) > 1}


def check_no_leakage(entries: Iterable[ManifestEntry]) -> None:
    found = leaks(entries)
    if found:
        shown = "; ".join(f"{g} in {', '.join(sorted(s))}" for g, s in sorted(found.items())[:5])
        raise CorpusError(f"{len(found)} speaker/voice/noise group(s) appear in more than one split: {shown}")

"""A folder of audio files, searched recursively by suffix (VCTK, EARS, LibriSpeech-like trees)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from leanspeech.data.readers.listing import CorpusListing
from leanspeech.errors import CorpusError
from leanspeech.registry import READERS


@READERS.register("folder")
def read_folder(root: str | Path, kind: str = "speech", split: str = "train",
                suffixes: Sequence[str] = (".wav", ".flac"), source: str = "folder") -> CorpusListing:
    """Every file under `root` whose suffix is in `suffixes` (case-insensitive). The speaker is the
    first folder below `root` (VCTK's `wav48/p225/…`, EARS' `p001/…`), empty for files at the top."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"{root}: folder does not exist")
    wanted = {s.lower() if s.startswith(".") else f".{s.lower()}" for s in suffixes}
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in wanted and p.is_file())
    listing = CorpusListing(root)
    for path in tqdm(files, desc=f"reading {root.name}", unit="file", disable=len(files) < 1000):
        parts = path.relative_to(root).parts
        listing.add_audio(path, kind, split, parts[0] if len(parts) > 1 else "", source)
    return listing.report(f"files under {root}")

"""ASVspoof 2019 LA protocol files for a built spoofing corpus, so the `asvspoof2019-la` reader that
reads the real corpus reads ours too: `SPEAKER FILE - ATTACK KEY` per line, one file per part."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from leanspeech.data.manifest import ManifestEntry
from leanspeech.data.readers.asvspoof import KEYS, PROTOCOLS, protocol_path
from leanspeech.data.readers.asvspoof import SPLITS as PART_SPLITS
from leanspeech.errors import CorpusError


def protocol_line(entry: ManifestEntry) -> tuple[str, str]:
    """(part, line) of one corpus entry; it must sit in the part's flac folder and carry attack and key."""
    path = Path(entry.path)
    part = next((p for p, split in PART_SPLITS.items() if split == entry.split), None)
    attack, key = entry.extra.get("attack"), entry.extra.get("key")
    if part is None or path.parent.as_posix() != f"ASVspoof2019_LA_{part}/flac" or path.suffix != ".flac":
        raise CorpusError(f"{entry.path}: not in the ASVspoof 2019 LA layout (ASVspoof2019_LA_<part>/flac/*.flac)")
    if key not in KEYS or (attack == "-") != (key == "bonafide"):
        raise CorpusError(f"{entry.path}: key {key!r} with attack {attack!r}; need bonafide with '-' or spoof with an id")
    if any(c.isspace() for c in entry.speaker + path.stem + attack):
        raise CorpusError(f"{entry.path}: speaker, file name and attack must not contain spaces")
    return part, f"{entry.speaker} {path.stem} - {attack} {key}"


def write_protocols(root: str | Path, entries: Iterable[ManifestEntry]) -> list[Path]:
    """Write the three protocol files under `root` (a part without entries gets an empty file)."""
    lines: dict[str, list[str]] = {part: [] for part in PROTOCOLS}
    for entry in entries:
        part, line = protocol_line(entry)
        lines[part].append(line)
    written = []
    for part, part_lines in lines.items():
        path = protocol_path(Path(root), part)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in part_lines))
        written.append(path)
    return written

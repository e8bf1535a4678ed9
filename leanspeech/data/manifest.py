"""Corpus manifests: one CSV row per audio file, the single index every reader and dataset uses.

Columns: path (relative to the manifest's folder, or absolute), kind (speech | noise | rir | any
task-specific kind), split (train | dev | test), speaker (speaker, voice or noise-file group: the unit
that never crosses splits), source (registered source name), language, duration (s), sample_rate,
license, and optional label columns (e.g. text, mos, attack).
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterable

from leanspeech.errors import CorpusError

SPLITS = ("train", "dev", "test")


@dataclass
class ManifestEntry:
    path: str
    kind: str
    split: str
    speaker: str
    source: str
    duration: float
    sample_rate: int
    language: str = ""
    license: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def resolve(self, root: str | Path) -> Path:
        path = Path(self.path)
        return path if path.is_absolute() else Path(root) / path


_CORE = [f.name for f in fields(ManifestEntry) if f.name != "extra"]


def write_manifest(path: str | Path, entries: Iterable[ManifestEntry]) -> Path:
    entries = list(entries)
    extra_keys = sorted({k for e in entries for k in e.extra})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=_CORE + extra_keys)
        writer.writeheader()
        for e in entries:
            row = {k: v for k, v in asdict(e).items() if k != "extra"}
            row["duration"] = f"{e.duration:.4f}"
            writer.writerow({**row, **e.extra})
    return path


def read_manifest(path: str | Path, kind: str | None = None, split: str | None = None) -> list[ManifestEntry]:
    """Read a manifest, optionally filtered by kind and split. Bad rows raise CorpusError with the line."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: manifest does not exist")
    entries = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("path", "kind", "split", "speaker", "source", "duration", "sample_rate")
                   if c not in (reader.fieldnames or [])]
        if missing:
            raise CorpusError(f"{path}: manifest lacks the column(s) {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            try:
                entry = ManifestEntry(
                    path=row["path"], kind=row["kind"], split=row["split"], speaker=row["speaker"],
                    source=row["source"], duration=float(row["duration"]),
                    sample_rate=int(row["sample_rate"]), language=row.get("language") or "",
                    license=row.get("license") or "",
                    extra={k: v for k, v in row.items() if k not in _CORE and v not in (None, "")},
                )
            except (TypeError, ValueError) as err:
                raise CorpusError(f"{path}, line {line}: {err}") from None
            if (kind is None or entry.kind == kind) and (split is None or entry.split == split):
                entries.append(entry)
    return entries


BUILD_RECORD = "build.json"  # written by `leanspeech data build` beside the manifest


def read_build_record(corpus: str | Path) -> dict | None:
    """A corpus's build.json (how it was built, the manifest's hash), or None for a folder built before
    it existed or by hand."""
    path = Path(corpus) / BUILD_RECORD
    return json.loads(path.read_text()) if path.is_file() else None

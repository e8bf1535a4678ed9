"""A CSV or JSON-lines manifest of audio paths and labels (MOS lists, VAD lists, any labelled set).

Relative paths are resolved against the manifest's folder. Columns `split`, `speaker`, `kind` and
`language` fill those fields when present; every other column is kept as a label in `extra`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterator

from tqdm import tqdm

from leanspeech.data.readers.listing import CorpusListing
from leanspeech.errors import CorpusError
from leanspeech.registry import READERS

FIELD_COLUMNS = ("split", "speaker", "kind", "language")


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, newline="") as f:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        reader = csv.DictReader(f, delimiter=delimiter)
        for row in reader:
            if None in row or None in row.values():
                raise CorpusError(f"{path}, line {reader.line_num}: expected {len(reader.fieldnames)} fields "
                                  f"({', '.join(reader.fieldnames)})")
            yield reader.line_num, row


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path) as f:
        for line_number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise CorpusError(f"{path}, line {line_number}: not valid JSON ({err.msg})") from None
            if not isinstance(row, dict):
                raise CorpusError(f"{path}, line {line_number}: expected a JSON object")
            yield line_number, row


@READERS.register("table")
def read_table(path: str | Path, path_column: str = "path", kind: str = "speech", split: str = "train",
               source: str = "table") -> CorpusListing:
    """Rows of a .csv/.tsv (header line) or .jsonl file. A row naming a missing file is skipped and
    counted; a malformed row raises CorpusError with the line number."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: manifest does not exist")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".jsonl"):
        raise CorpusError(f"{path}: expected a .csv, .tsv or .jsonl manifest")
    rows = _jsonl_rows(path) if suffix == ".jsonl" else _csv_rows(path)
    listing = CorpusListing(path.parent)
    for line, row in tqdm(rows, desc=f"reading {path.name}", unit="row", mininterval=1.0):
        audio = row.get(path_column)
        if not isinstance(audio, str) or not audio.strip():
            raise CorpusError(f"{path}, line {line}: no {path_column!r} value")
        fields = {k: str(row[k]) for k in FIELD_COLUMNS if row.get(k) not in (None, "")}
        labels = {k: str(v) for k, v in row.items() if k != path_column and k not in FIELD_COLUMNS}
        entry = listing.add_audio(path.parent / audio.strip(), fields.get("kind", kind), fields.get("split", split),
                                  fields.get("speaker", ""), source, labels)
        if entry is not None:
            entry.language = fields.get("language", "")
    return listing.report(f"rows of {path}")

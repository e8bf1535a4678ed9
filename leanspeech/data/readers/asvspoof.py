"""ASVspoof 2019 logical access (LA), in its released layout:

    ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt
    ASVspoof2019_LA_{train,dev,eval}/flac/<FILE>.flac

Protocol lines are `SPEAKER FILE - ATTACK KEY`: ATTACK is `-` for bona fide speech, A01-A19 otherwise;
KEY is `bonafide` or `spoof`. Entries keep `label` (the key) and `attack`; the eval part becomes split
`test`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from leanspeech.data.readers.listing import CorpusListing
from leanspeech.errors import CorpusError
from leanspeech.registry import READERS

PROTOCOLS = {"train": "train.trn", "dev": "dev.trl", "eval": "eval.trl"}
SPLITS = {"train": "train", "dev": "dev", "eval": "test"}
KEYS = ("bonafide", "spoof")


def protocol_path(root: Path, part: str) -> Path:
    return root / "ASVspoof2019_LA_cm_protocols" / f"ASVspoof2019.LA.cm.{PROTOCOLS[part]}.txt"


@READERS.register("asvspoof2019-la")
def read_asvspoof2019_la(root: str | Path, parts: Sequence[str] = ("train", "dev", "eval")) -> CorpusListing:
    """The LA folder (the one holding `ASVspoof2019_LA_cm_protocols`). A protocol line whose flac is
    missing is skipped and counted; a malformed line raises CorpusError with its line number."""
    root = Path(root)
    listing = CorpusListing(root)
    for part in parts:
        if part not in PROTOCOLS:
            raise CorpusError(f"ASVspoof 2019 LA has no part {part!r}; parts: {', '.join(PROTOCOLS)}")
        protocol = protocol_path(root, part)
        if not protocol.is_file():
            raise CorpusError(f"{protocol}: protocol file does not exist (is {root} the LA folder?)")
        lines = protocol.read_text().splitlines()
        for number, line in enumerate(tqdm(lines, desc=f"ASVspoof2019 LA {part}", unit="file"), start=1):
            if not line.strip():
                continue
            fields = line.split()
            if len(fields) != 5 or fields[4] not in KEYS or (fields[3] == "-") != (fields[4] == "bonafide"):
                raise CorpusError(f"{protocol}, line {number}: expected 'SPEAKER FILE - ATTACK KEY' with ATTACK "
                                  f"'-' exactly when KEY is bonafide, got {line.strip()!r}")
            speaker, name, _, attack, key = fields
            audio = root / f"ASVspoof2019_LA_{part}" / "flac" / f"{name}.flac"
            listing.add_audio(audio, "speech", SPLITS[part], speaker, "asvspoof2019-la",
                              {"label": key, "attack": attack})
    return listing.report(f"ASVspoof 2019 LA files under {root}")

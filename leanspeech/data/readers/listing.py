"""What a reader returns, and the header read that turns one audio file into a manifest entry."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from leanspeech.audio.io import audio_info
from leanspeech.data.manifest import ManifestEntry, write_manifest
from leanspeech.data.pools import report_skipped
from leanspeech.errors import AudioError


@dataclass
class CorpusListing:
    root: Path
    entries: list[ManifestEntry] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)

    def add_audio(self, path: Path, kind: str, split: str, speaker: str, source: str,
                  extra: dict[str, str] | None = None) -> ManifestEntry | None:
        """Read `path`'s header into an entry; a missing or unreadable file is recorded and skipped."""
        try:
            info = audio_info(path)
        except AudioError as err:
            self.skipped.append((str(path), err.problem))
            return None
        if info.frames == 0:
            self.skipped.append((str(path), "no samples (zero-length audio)"))
            return None
        entry = ManifestEntry(path=relative_path(path, self.root), kind=kind, split=split, speaker=speaker,
                              source=source, duration=info.frames / info.samplerate,
                              sample_rate=int(info.samplerate), extra=dict(extra or {}))
        self.entries.append(entry)
        return entry

    def report(self, what: str) -> CorpusListing:
        """Log the skipped files with their count (once, at the end of a read)."""
        report_skipped(what, self.skipped)
        return self

    def write_manifest(self, path: str | Path) -> Path:
        """Write a manifest; paths stay relative only when it sits in the corpus root."""
        path = Path(path)
        if path.parent.resolve() == self.root.resolve():
            return write_manifest(path, self.entries)
        return write_manifest(path, [replace(e, path=str(e.resolve(self.root).resolve())) for e in self.entries])


def relative_path(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)

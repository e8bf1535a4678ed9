"""DNS Challenge synthetic layout: `clean/`, `noise/` and `noisy/` folders whose files share a
`fileid_N` suffix, e.g. `noisy/book_00012_chp_0010_reader_01326_8_..._snr5_fileid_12.wav` pairs
with `clean/clean_fileid_12.wav` and `noise/noise_fileid_12.wav`.

Entries: each noisy file (kind `noisy`, with `clean`, `noise`, `snr` and `fileid` columns), and the
clean and noise files themselves (kinds `speech` and `noise`, usable as mixing pools). The file id is
the speaker column, so a pair never crosses splits.
"""

from __future__ import annotations

import re
from pathlib import Path

from tqdm import tqdm

from leanspeech.data.readers.listing import CorpusListing, relative_path
from leanspeech.errors import CorpusError
from leanspeech.registry import READERS

FILEID = re.compile(r"fileid_(\d+)\.[^.]+$")
SNR = re.compile(r"snr(-?\d+(?:\.\d+)?)")
SUFFIXES = {".wav", ".flac"}


def _by_fileid(folder: Path, listing: CorpusListing) -> dict[str, Path]:
    files = {}
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() not in SUFFIXES or not path.is_file():
                continue
            match = FILEID.search(path.name)
            if match is None:
                listing.skipped.append((str(path), "name has no fileid_N"))
            else:
                files[match.group(1)] = path
    return files


@READERS.register("dns-challenge")
def read_dns(root: str | Path, split: str = "test") -> CorpusListing:
    """A noisy file without its clean file is skipped and counted, as is a name with no `fileid_N`."""
    root = Path(root)
    if not (root / "clean").is_dir():
        raise CorpusError(f"{root}: no clean/ folder (expected the DNS layout clean/, noise/, noisy/)")
    listing = CorpusListing(root)
    clean, noise, noisy = (_by_fileid(root / name, listing) for name in ("clean", "noise", "noisy"))
    for fileid, path in tqdm(sorted(noisy.items(), key=lambda item: int(item[0])), desc="DNS noisy", unit="file"):
        if fileid not in clean:
            listing.skipped.append((str(path), f"no clean file with fileid_{fileid}"))
            continue
        extra = {"clean": relative_path(clean[fileid], root), "fileid": fileid}
        if fileid in noise:
            extra["noise"] = relative_path(noise[fileid], root)
        snr = SNR.search(path.name)
        if snr is not None:
            extra["snr"] = snr.group(1)
        listing.add_audio(path, "noisy", split, f"fileid_{fileid}", "dns-challenge", extra)
    for kind, files in (("speech", clean), ("noise", noise)):
        for fileid, path in sorted(files.items(), key=lambda item: int(item[0])):
            listing.add_audio(path, kind, split, f"fileid_{fileid}", "dns-challenge")
    return listing.report(f"DNS files under {root}")

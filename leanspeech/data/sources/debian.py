"""Debian packages as data sources: is a package installed, which files it ships, who holds the copyright."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DOC_ROOT = Path("/usr/share/doc")
_CREDIT_WORDS = ("copyright", "voice actor", "recorded by", "upstream author")


@dataclass(frozen=True)
class DebianPackage:
    """A package a source reads from, with the licence its files are under (checked in its copyright file)."""

    name: str
    license: str


@lru_cache(maxsize=None)
def is_installed(package: str) -> bool:
    if shutil.which("dpkg-query") is None:
        return False
    done = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return done.returncode == 0 and done.stdout.strip().endswith("installed") and "not-installed" not in done.stdout


def package_files(package: str, suffixes: tuple[str, ...]) -> list[Path]:
    """Files the package installed whose names end in one of `suffixes`, sorted."""
    done = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
    if done.returncode != 0:
        return []
    return sorted(Path(line) for line in done.stdout.splitlines() if line.lower().endswith(suffixes))


def install_hint(packages: list[str] | tuple[str, ...]) -> str:
    return f"sudo apt-get install {' '.join(packages)}"


def copyright_lines(package: str, limit: int = 8) -> list[str]:
    """The lines of the package's copyright file that name holders and authors (for ATTRIBUTION)."""
    path = DOC_ROOT / package / "copyright"
    if not path.is_file():
        return []
    seen: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        text = " ".join(line.split())
        credit = any(word in text.lower() for word in _CREDIT_WORDS) and not text.startswith("Format:")
        credit = credit and not text.endswith(":") and not text.isupper()  # headings and licence shouting
        if credit and text not in seen and len(text) < 160:
            seen.append(text)
        if len(seen) == limit:
            break
    return seen

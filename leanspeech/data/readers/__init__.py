"""Readers for corpora users already own, registered by name in `leanspeech.registry.READERS`.

Each reader is a function `(root or file, ...) -> CorpusListing`: manifest entries (paths relative to
the listing's root) plus the files it skipped and why. Importing this package registers them all.
"""

import importlib
import pkgutil

from leanspeech.data.readers.listing import CorpusListing

for _info in pkgutil.iter_modules(__path__):
    if _info.name != "listing":
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["CorpusListing"]

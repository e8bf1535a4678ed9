"""Task models, registered by name in `leanspeech.registry.MODELS`.

Importing this package imports every model module, so that every name is registered.
"""

import importlib
import pkgutil

from leanspeech.models.base import SpeechModel

for _info in pkgutil.iter_modules(__path__):
    if _info.name not in {"base", "io"}:
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["SpeechModel"]

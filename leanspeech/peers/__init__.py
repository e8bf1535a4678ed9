"""Published models run offline from their wheels, registered by name in `leanspeech.registry.PEERS`.

Importing this package registers every peer; a peer's own package is imported only when the peer is
built, and a missing one raises PeerNotInstalledError naming the pip command (requirements-peers-no-deps.txt).
"""

import importlib
import pkgutil

from leanspeech.peers.base import EnhancementPeer, PeerNotInstalledError, QualityPeer, VadPeer

for _info in pkgutil.iter_modules(__path__):
    if _info.name != "base":
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["EnhancementPeer", "PeerNotInstalledError", "QualityPeer", "VadPeer"]

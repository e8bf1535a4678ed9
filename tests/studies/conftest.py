"""Shared fixtures of the study tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """A 0.3-minute corpus (all splits, speech, noise, RIRs): enough for end-to-end VAD runs in seconds."""
    from leanspeech.data.corpus import build_corpus

    out = tmp_path_factory.mktemp("tiny-corpus")
    build_corpus(out, minutes=0.3, progress=False)
    return out

"""Errors that tell the user which file or key is wrong and why."""

from __future__ import annotations

from pathlib import Path


class LeanspeechError(Exception):
    """Base class of every error leanspeech raises on purpose."""


class AudioError(LeanspeechError, ValueError):
    """An audio file that cannot be used: names the file and the problem."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        where = self.path if self.path is not None else "<array>"
        super().__init__(f"{where}: {problem}")


class RecipeError(LeanspeechError, ValueError):
    """A recipe (YAML config) key that is unknown, missing or of the wrong type."""


class CorpusError(LeanspeechError, ValueError):
    """A corpus folder, manifest or protocol file that cannot be read."""

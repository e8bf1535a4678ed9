"""Corpus sources, each registered by name in `leanspeech.registry.SOURCES`.

A source is a `Source` subclass with `build(ctx, minutes_per_split) -> list[ManifestEntry]`; importing
this package registers them all. A new task (spoofing, unlabeled degraded speech) adds its sources here
and a plan in `leanspeech.data.tasks.TASKS`.
"""

from leanspeech.data.sources import human, recorded_noise, rir, spoof, sqa_unlabeled, synthetic_noise, tts  # noqa: F401  (registration)
from leanspeech.data.sources.base import BuildContext, Skipped, Source

__all__ = ["BuildContext", "Skipped", "Source"]

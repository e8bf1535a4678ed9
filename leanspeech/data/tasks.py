"""What `leanspeech data build --task T` builds: each task's sources and their shares of the minutes.
Kept apart from the builder so that the command line can list the tasks without importing torch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Share:
    """A source's part of the budget: `fraction` of the speech minutes (noise and RIRs scale with them)."""

    source: str
    fraction: float


# Speech: 60 % recorded, 40 % TTS. Noise: half as many minutes as speech (mixing reuses it at random
# offsets). RIRs: ShoeboxRir turns its minutes into a count (6 per minute of speech).
TASKS: dict[str, tuple[Share, ...]] = {
    "vad": (
        Share("ivr-prompts", 0.6), Share("espeak-ng", 0.16), Share("flite", 0.12), Share("festival", 0.12),
        Share("moh-music", 0.2), Share("sound-icons", 0.02), Share("coloured-noise", 0.1), Share("hum", 0.05),
        Share("babble", 0.13), Share("shoebox-rir", 1.0),
    ),
    # Anti-spoofing, ASVspoof 2019 LA layout: 40 % bona fide, 60 % spoofed (leanspeech.data.sources.spoof).
    "spoof": (Share("spoof-bonafide", 0.4), Share("spoof-attacks", 0.6)),
    # Quality distillation (leanspeech.data.sources.sqa_unlabeled): `minutes` of degraded clips, drawn
    # from a smaller clean pool (clips reuse utterances), with noise and RIRs of the same splits.
    "sqa-unlabeled": (
        Share("ivr-prompts", 0.5), Share("espeak-ng", 0.04), Share("flite", 0.03), Share("festival", 0.03),
        Share("moh-music", 0.12), Share("coloured-noise", 0.06), Share("hum", 0.02), Share("babble", 0.1),
        Share("shoebox-rir", 0.5), Share("sqa-degraded", 1.0),
    ),
}

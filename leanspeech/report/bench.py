"""`bench`: latency and real-time factor of our models and of peers on the same audio, in one run.

An entry is a registered model name, a run directory / model file (model.pt), or a peer name
(`leanspeech.registry.PEERS`). All entries process the same waveform once per round, interleaved
(report/timing.py); results are ratios against the first entry. Our models run `forward_wav` (front end
included) at batch 1; peers run their task call (VAD frame probabilities, enhancement, quality score).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from leanspeech.errors import LeanspeechError
from leanspeech.report.timing import Measured, interleaved_times, summarize

SAMPLE_RATE = 16000


def _model_call(model: Any, wav: np.ndarray, rate: int) -> Callable[[], Any]:
    from leanspeech.audio.resample import resample

    batch = torch.from_numpy(resample(wav, rate, model.sample_rate)).float()[None]
    model.eval()
    return lambda: model.forward_wav(batch)


def _peer_call(peer: Any, wav: np.ndarray, rate: int) -> Callable[[], Any]:
    if peer.task == "vad":
        hop = 256 * rate // SAMPLE_RATE
        return lambda: peer.frame_probabilities(wav, rate, hop, len(wav) // hop + 1)
    if peer.task == "enhance":
        return lambda: peer.enhance(wav, rate)
    return lambda: peer.score(wav, rate)


def entry_call(entry: str, wav: np.ndarray, rate: int) -> Callable[[], Any]:
    """A no-argument call that processes `wav` with the model or peer `entry` names."""
    import leanspeech.models  # noqa: F401  (fills the registry)
    import leanspeech.peers  # noqa: F401
    from leanspeech.commands.profile import load_target
    from leanspeech.registry import MODELS, PEERS

    if entry in PEERS and not Path(entry).exists():
        return _peer_call(PEERS.build(entry), wav, rate)
    if entry in MODELS or Path(entry).exists():
        model, _ = load_target(entry, {})
        return _model_call(model, wav, rate)
    raise LeanspeechError(f"{entry}: not a registered model ({', '.join(MODELS.names())}), a peer "
                          f"({', '.join(PEERS.names())}), a run directory or a model file")


def run_bench(entries: list[str], wav: np.ndarray, rate: int, repeats: int = 20, warmup: int = 2,
              threads: int = 1) -> list[Measured]:
    """Interleaved timings of every entry on `wav` (mono float32 at `rate`)."""
    if not entries:
        raise LeanspeechError("bench needs at least one model or peer")
    calls = {entry: entry_call(entry, wav, rate) for entry in entries}
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            times = interleaved_times(calls, repeats, warmup)
    finally:
        torch.set_num_threads(previous)
    return [summarize(entry, times[entry], len(wav) / rate) for entry in entries]


def ratio_table(results: list[Measured]) -> list[dict[str, Any]]:
    """One row per entry: its timing and its median time and RTF relative to the first entry."""
    reference = results[0].median_s
    return [{**r.to_dict(), "time_vs_first": r.median_s / reference} for r in results]

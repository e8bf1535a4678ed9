"""`leanspeech spoof FILE`: bona fide scores of audio files from an anti-spoofing countermeasure."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from leanspeech.bundled import bundled_model

EXAMPLES = """examples:
  leanspeech spoof call.wav
  leanspeech spoof a.wav b.flac --model runs/spoof-small/runs/drn34-bx-12.5

Prints one line per file: the file, the bona fide logit (> 0: more likely bona fide than spoof) and
its probability, sigmoid(logit). The default model is the bundled one (the small study's best
consolidated DRN34 BX, trained on the offline corpus built here: a demonstration, not a model for
real attacks); --model takes a model.pt or a study run folder (its consolidated.pt, else model.pt).
Stereo is mixed down and other sample rates are resampled; the whole file is scored.
"""

DEFAULT_MODEL = bundled_model("spoof")
RUN_FILES = ("consolidated.pt", "model.pt")  # a run folder's consolidated model computes less


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "spoof", help="score audio files as bona fide or spoofed speech",
        description="Score audio files with an anti-spoofing countermeasure (a ResNet34 or a consolidated DynResNet34).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="audio files (wav, flac, ogg; any rate)")
    parser.add_argument("--model", help="model.pt or study run folder (default: the bundled model)")
    parser.set_defaults(run=run_spoof)


def load_countermeasure(path: str | Path | None = None):
    from leanspeech.errors import LeanspeechError
    from leanspeech.models.io import load_model

    path = Path(path) if path else DEFAULT_MODEL
    if path.is_dir():
        path = next((path / name for name in RUN_FILES if (path / name).is_file()), path / RUN_FILES[-1])
    if not path.is_file() and path == DEFAULT_MODEL:
        raise LeanspeechError(f"{path}: the bundled model is missing; give one with --model")
    model = load_model(path)
    if getattr(model, "task", "") != "spoof":
        raise LeanspeechError(f"{path}: not an anti-spoofing model ({model.registry_name})")
    return model


def bonafide_logit(model, path: str | Path) -> float:
    """The model's bona fide logit for the whole file (resampled to the model's rate, mono)."""
    import torch

    from leanspeech.audio.io import load_audio

    n_fft = model.frontend.spectrogram.n_fft  # shorter audio has not one full STFT frame
    wav, _ = load_audio(path, sample_rate=model.sample_rate, min_samples=n_fft)
    with torch.no_grad():
        return float(model.forward_wav(torch.from_numpy(wav).unsqueeze(0))[0])


def run_spoof(args: argparse.Namespace) -> int:
    model = load_countermeasure(args.model)
    for path in args.files:
        logit = bonafide_logit(model, path)
        print(f"{path}\t{logit:.4f}\t{1 / (1 + math.exp(-logit)):.4f}")
    return 0

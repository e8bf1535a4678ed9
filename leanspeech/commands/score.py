"""`leanspeech score`: non-intrusive WB-PESQ prediction for audio files (no clean reference needed)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from leanspeech.bundled import bundled_model
from leanspeech.errors import AudioError, LeanspeechError

if TYPE_CHECKING:  # torch and the models load when a file is scored, not for `--help`
    import numpy as np

    from leanspeech.data.pesq_segments import SegmentRule
    from leanspeech.models.base import SpeechModel

DEFAULT_MODEL = bundled_model("quality")

EXAMPLES = """examples:
  leanspeech score recording.wav
  leanspeech score a.wav b.flac --dnsmos
  leanspeech score call.wav --model runs/quality-small/runs/bam-qat-seed0

A file is cut into 9 s segments with a 2 s hop; its score is the mean prediction over them. A file
shorter than 9 s is repeated to fill one segment (as DNSMOS does); one under 1 s is rejected.
The bundled default (leanspeech/assets/quality/default.pt, see its README.md) is the fp32 model of
the small CPU study (recipes/quality/small.yaml): trained on synthetic noisy speech, a rough guide,
not a calibrated MOS. Train your own with `leanspeech study quality` and pass it with --model.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score", help="predict WB-PESQ of audio files without a reference",
        description="Predict the wide-band PESQ of audio files with a non-intrusive quality model "
                    "(the DNSMOS-style CNN of bam-qat-sqp.md); optionally DNSMOS P.835/P.808 beside it.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", type=Path, help="audio files (any rate; resampled to the model's)")
    parser.add_argument("--model", type=Path, default=None,
                        help="a run folder holding model.pt, or a model file (default: the bundled model)")
    parser.add_argument("--dnsmos", action="store_true", help="also score with DNSMOS (speechmos; slow first call)")
    parser.set_defaults(run=run_score)


def resolve_model(path: Path | None) -> SpeechModel:
    from leanspeech.models.io import load_model

    if path is None and not DEFAULT_MODEL.is_file():
        raise LeanspeechError(f"no quality model is bundled ({DEFAULT_MODEL} is missing): train one with "
                              "`leanspeech study quality` and pass it with --model RUN_DIR|model.pt")
    path = DEFAULT_MODEL if path is None else path
    return load_model(path / "model.pt" if path.is_dir() else path)


def predict_file(model: SpeechModel, path: Path, rule: SegmentRule) -> tuple[float, int, np.ndarray]:
    """Mean predicted score over the file's segments, their count, and the audio at the model's rate."""
    import numpy as np
    import torch

    from leanspeech.audio.io import load_audio

    wav, _ = load_audio(path, sample_rate=rule.sample_rate)
    starts = rule.starts(len(wav))
    if not starts:
        raise AudioError(path, f"{len(wav) / rule.sample_rate:.2f} s is shorter than the {rule.min_seconds:g} s minimum")
    segments = torch.from_numpy(np.stack([rule.cut(wav, start) for start in starts]))
    with torch.no_grad():
        features = model.features(segments)
        if not torch.isfinite(features).all():
            raise AudioError(path, "features contain NaN or inf")
        scores = model.eval()(features)
    return float(scores.mean()), len(starts), wav


def run_score(args: argparse.Namespace) -> int:
    from leanspeech.data.pesq_segments import SegmentRule
    from leanspeech.data.pools import report_skipped

    model = resolve_model(args.model)
    rule = SegmentRule(sample_rate=model.sample_rate)
    peer = None
    if args.dnsmos:
        from leanspeech.registry import PEERS

        peer = PEERS.build("dnsmos")
    table = Table(title="non-intrusive quality")
    for column in ("file", "predicted PESQ", "segments", *(("DNSMOS SIG", "BAK", "OVRL", "P.808") if peer else ())):
        table.add_column(column, justify="right" if column != "file" else "left")
    skipped = []
    for path in args.files:
        try:
            score, count, wav = predict_file(model, path, rule)
            extra = peer.score(wav, rule.sample_rate) if peer else {}
        except LeanspeechError as err:
            skipped.append((str(path), getattr(err, "problem", str(err))))
            continue
        table.add_row(str(path), f"{score:.2f}", str(count), *(f"{extra[k]:.2f}" for k in ("sig", "bak", "ovrl", "p808") if peer))
    Console().print(table)
    report_skipped("files", skipped)
    if skipped and len(skipped) == len(args.files):
        raise LeanspeechError(f"no file could be scored: {skipped[0][0]}: {skipped[0][1]}")
    return 1 if skipped else 0

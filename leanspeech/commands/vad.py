"""`leanspeech vad FILE`: speech segments of audio files, with the bundled model or a trained one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from leanspeech.runtime.weight_formats import WEIGHT_FORMATS

EXAMPLES = """examples:
  leanspeech vad talk.wav
  leanspeech vad talk.wav --threshold 0.6 --csv talk_frames.csv
  leanspeech vad a.wav b.flac --model reports/demo/runs/dcrnnvad-12.5
  leanspeech vad talk.wav --streaming --weights int8

Prints one line per speech segment: start and end in seconds. The default model is the bundled one
(the demo's best consolidated DCRNNVAD); --model takes a model.pt or a run folder (its
consolidated.pt, else model.pt). Stereo is mixed down and other sample rates are resampled (noted
on stderr); files shorter than the model's context (64 ms) are an error. --streaming computes the
probabilities with the batch-1 streaming runtime (what `leanspeech export --format runtime` writes; the
same numbers to 1e-5); --weights fp16|int8 stores its weights in half / a quarter of the bytes.
Python: leanspeech.inference.vad.detect_speech(path) and, for streams, leanspeech.inference.vad_stream.StreamingVAD.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "vad", help="detect speech segments in audio files",
        description="Detect speech in audio files: print speech segments and optionally write frame probabilities.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="audio files (wav, flac, ogg; any rate)")
    parser.add_argument("--model", help="model.pt or run folder (default: the bundled model)")
    parser.add_argument("--threshold", type=float, default=0.5, help="speech probability threshold (default 0.5)")
    parser.add_argument("--min-speech", type=float, default=0.25, help="shortest segment kept, seconds (default 0.25)")
    parser.add_argument("--min-silence", type=float, default=0.1, help="shorter gaps are bridged, seconds (default 0.1)")
    parser.add_argument("--csv", help="write frame probabilities here (with several files: FILE stem appended)")
    parser.add_argument("--streaming", action="store_true", help="run the streaming runtime frame by frame")
    parser.add_argument("--weights", choices=WEIGHT_FORMATS, default="fp32",
                        help="weight format of the streaming runtime (with --streaming; default fp32)")
    parser.set_defaults(run=run_vad)


def run_vad(args: argparse.Namespace) -> int:
    from leanspeech.errors import LeanspeechError
    from leanspeech.inference.vad import detect_speech, load_vad_model

    if not 0.0 < args.threshold < 1.0:
        raise LeanspeechError(f"--threshold must be between 0 and 1, got {args.threshold}")
    model = load_vad_model(args.model)
    for path in args.files:
        result = detect_speech(path, model=model, threshold=args.threshold,
                               min_speech_seconds=args.min_speech, min_silence_seconds=args.min_silence,
                               streaming=args.streaming, weights=args.weights)
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
        if len(args.files) > 1:
            print(f"# {path}")
        if not result.segments:
            print(f"no speech found ({result.duration:.2f} s)", file=sys.stderr)
        for segment in result.segments:
            print(f"{segment.start:.3f}\t{segment.end:.3f}")
        if args.csv:
            target = Path(args.csv)
            if len(args.files) > 1:
                target = target.with_name(f"{target.stem}_{Path(path).stem}{target.suffix}")
            result.write_csv(target)
    return 0

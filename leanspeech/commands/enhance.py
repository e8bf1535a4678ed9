"""`leanspeech enhance IN OUT`: denoise an audio file with the bundled model or a trained one."""

from __future__ import annotations

import argparse
import sys
import warnings

from leanspeech.runtime.weight_formats import ACTIVATION_FORMATS, WEIGHT_FORMATS

EXAMPLES = """examples:
  leanspeech enhance noisy.wav enhanced.wav
  leanspeech enhance noisy.wav enhanced.wav --streaming --update-percent 50
  leanspeech enhance noisy.wav enhanced.wav --streaming --weights int8
  leanspeech enhance noisy.wav enhanced.wav --streaming --weights int8 --activations int8
  leanspeech enhance noisy.flac enhanced.flac --model runs/enhance-small/models/p50

The default model is the bundled one (the enhancement study's small GRU host, hidden 128); --model
takes a model.pt or a run folder holding one. --streaming runs the batch-1 streaming runtime (160
samples in, 160 out; its 10 ms delay is removed here); --update-percent P runs the GRUs as D-GRUs
updating P % of their neurons per step; --weights fp16|int8 stores the streaming runtime's weights in
half / a quarter of the bytes (fp32 arithmetic, output slightly different); --activations int8 (with
--weights int8) also quantizes the GRUs' inputs and states every step and computes in 8-bit integers,
the fastest mode (through the kernel compiled at install; without it, the same numbers, slower).
Stereo is mixed down, other sample rates are resampled to 16 kHz and back (noted on stderr), clipped
input is processed with a warning, and input shorter than one 20 ms frame is an error. The output has
the input's sample rate and length.
Python: leanspeech.inference.enhance.enhance_file / enhance_audio, and load_streaming_enhancer for streams.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "enhance", help="remove noise from an audio file",
        description="Speech enhancement: write a denoised copy of an audio file.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", metavar="IN", help="noisy audio file (wav, flac, ogg; any rate, mono or stereo)")
    parser.add_argument("output", metavar="OUT", help="enhanced audio file to write (format from the suffix)")
    parser.add_argument("--model", help="model.pt or run folder (default: the bundled model)")
    parser.add_argument("--streaming", action="store_true", help="run the streaming runtime hop by hop")
    parser.add_argument("--update-percent", type=float, metavar="P",
                        help="run the GRU layers as D-GRU updating P %% of the neurons per step (0 < P <= 100)")
    parser.add_argument("--weights", choices=WEIGHT_FORMATS, default="fp32",
                        help="weight format of the streaming runtime (with --streaming; default fp32)")
    parser.add_argument("--activations", choices=ACTIVATION_FORMATS, default="fp32",
                        help="GRU activation format of the streaming runtime (int8 needs --weights int8; default fp32)")
    parser.set_defaults(run=run_enhance)


def run_enhance(args: argparse.Namespace) -> int:
    from leanspeech.inference.enhance import ClippingWarning, enhance_file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClippingWarning)  # printed below with the notes, once
        result = enhance_file(args.input, args.output, model=args.model, streaming=args.streaming,
                              update_percent=args.update_percent, weights=args.weights,
                              activations=args.activations)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{args.output}: {len(result.audio) / result.sample_rate:.2f} s at {result.sample_rate} Hz")
    return 0

"""`leanspeech export RUN --format onnx|torchscript|runtime`: a deployable file, checked against PyTorch."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EXAMPLES = """examples:
  leanspeech export runs/vad-width --format onnx
  leanspeech export runs/vad-width/model.pt --format torchscript -o deploy/vad.ts
  leanspeech export runs/enhance-dgru --format runtime -o deploy/enhancer.npz
  leanspeech export runs/stack-vad-dgru/stages/3-finetune-100.pt --format runtime
  leanspeech export crnn_vad --format onnx --set gru_hidden=32 -o crnn_vad.onnx

Exports `forward` (features → output) of the model after consolidating its dynamic layers; the file is
run on an input of another batch size and length and compared with PyTorch (onnxruntime for ONNX, the
reloaded module for TorchScript, frame-by-frame streaming for the runtime); a difference over
--tolerance fails. "runtime" is the numpy/numba streaming engine (enhance_gru hosts and CRNN VADs, with
a GRU or D-GRU). Writes the file (default: RUN/export/<model file name>.<ext>) and export.json next to it.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="export a model to ONNX, TorchScript or the streaming runtime (checked)",
        description="Export a trained model (run directory or model file) or a registered one, and check the "
                    "exported file against PyTorch.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="run directory (with model.pt), model file, or registered model name")
    parser.add_argument("--format", dest="fmt", choices=("onnx", "torchscript", "runtime"), default="onnx")
    parser.add_argument("-o", "--output", type=Path, help="output file (default RUN/export/<model file name>.<ext>)")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest accepted |exported − PyTorch|")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="constructor argument of a registered model (YAML value); repeatable")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from leanspeech.commands.profile import load_target, parse_overrides
    from leanspeech.runtime.export import SUFFIXES, export_model

    model, source = load_target(args.model, parse_overrides(args.overrides))
    output = args.output
    if output is None:
        folder = source.parent / "export" if source is not None else Path("export")
        output = folder / f"{args.model if source is None else source.stem}{SUFFIXES[args.fmt]}"
    result = export_model(model, output, args.fmt, args.tolerance)
    (result.path.parent / "export.json").write_text(json.dumps({"source": str(source or args.model),
                                                                  **result.to_dict()}, indent=2) + "\n")
    print(f"{result.format}: {result.path} ({result.file_bytes / 1024:.1f} KiB), "
          f"max |exported − PyTorch| = {result.max_abs_error:.2e}")
    return 0

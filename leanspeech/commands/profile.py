"""`leanspeech profile`: parameters, MACs, FLOP/s, activation memory, file size and latency of a model."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import yaml

from leanspeech.errors import LeanspeechError

EXAMPLES = """examples:
  leanspeech profile dnsmos_cnn --seconds 9
  leanspeech profile spoof_resnet34 --seconds 4 --set channels=[5,9,17,42]
  leanspeech profile enhance_gru --bits 8 --csv layers.csv --json profile.json
  leanspeech profile runs/vad-small --latency --repeats 50 --threads 1
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "profile",
        help="cost of a model: parameters, MACs, FLOP/s, activation memory, latency",
        description=(
            "Profile a registered model (by name) or a trained one (a run directory holding model.pt, or the "
            "file itself) on seconds of noise: a per-layer table, totals, per-second rates and memory."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="registered model name, run directory (with model.pt) or model file")
    parser.add_argument("--seconds", type=float, default=4.0, help="audio length per sample (default 4)")
    parser.add_argument("--batch", type=int, default=1, help="batch size of the counting pass (default 1)")
    parser.add_argument("--bits", type=int, choices=(32, 16, 8, 1), default=32, help="activation bit width")
    parser.add_argument("--input-bits", type=int, default=32, help="bit width of the input samples")
    parser.add_argument("--weight-bits", type=int, default=32, help="bit width of the weights")
    parser.add_argument("--fft", choices=("fft", "dft"), default="fft", help="how a frame's DFT is counted")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="constructor argument of a registered model (YAML value); repeatable")
    parser.add_argument("--csv", type=Path, help="write the per-layer table as CSV")
    parser.add_argument("--json", type=Path, help="write the whole profile as JSON")
    parser.add_argument("--latency", action="store_true", help="also time forward_wav at batch 1 and batched")
    parser.add_argument("--latency-batch", type=int, default=8, help="batch size of the batched timing (default 8)")
    parser.add_argument("--repeats", type=int, default=20, help="timed repetitions (median/min/max reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed repetitions first")
    parser.add_argument("--threads", type=int, help="torch threads while timing (default: torch's)")
    parser.set_defaults(run=run)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    config = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise LeanspeechError(f"--set expects KEY=VALUE, got {pair!r}")
        config[key] = yaml.safe_load(value)
    return config


def load_target(target: str, overrides: dict[str, Any]) -> tuple[Any, Path | None]:
    """(model, its file) from a run directory, a model file, or a registry name (file None)."""
    from leanspeech.models.io import load_model
    from leanspeech.registry import MODELS

    import leanspeech.models  # noqa: F401  (fills the registry)

    path = Path(target)
    if path.is_dir():
        path = path / "model.pt"
        if not path.is_file():
            raise LeanspeechError(f"{target}: run directory has no model.pt")
    if path.is_file():
        if overrides:
            raise LeanspeechError("--set applies to registered model names, not to saved models")
        return load_model(path), path
    if target not in MODELS:
        raise LeanspeechError(f"{target}: neither a run directory, a model file nor a registered model "
                              f"(known: {', '.join(MODELS.names())})")
    try:
        return MODELS.build(target, **overrides), None
    except TypeError as err:
        raise LeanspeechError(f"{target}: bad --set arguments: {err}") from None


def run(args: argparse.Namespace) -> int:
    from leanspeech.models.io import save_model
    from leanspeech.profile import measure_latency, params, print_profile, profile_model, report

    model, model_file = load_target(args.model, parse_overrides(args.overrides))
    profile = profile_model(
        model, seconds=args.seconds, batch=args.batch, bits=args.bits, input_bits=args.input_bits,
        weight_bits=args.weight_bits, fft=args.fft, name=args.model,
    )
    if model_file is None:
        with tempfile.TemporaryDirectory() as tmp:
            profile.file_bytes = params.file_size(model, save_model(model, Path(tmp) / "model.pt"))
    else:
        profile.file_bytes = params.file_size(model, model_file)
    if args.latency:
        timings = measure_latency(model, args.seconds, (1, args.latency_batch), args.repeats, args.warmup, args.threads)
        profile.latency = {"threads": args.threads, "timings": [t.to_dict() for t in timings]}
    print_profile(profile)
    if args.csv:
        print(f"layers written to {report.write_csv(profile, args.csv)}")
    if args.json:
        print(f"profile written to {report.write_json(profile, args.json)}")
    return 0

"""`leanspeech bench ENTRY...`: latency and real-time factor of models and peers on the same audio."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EXAMPLES = """examples:
  leanspeech bench crnn_vad silero-vad webrtc-vad --seconds 10
  leanspeech bench runs/vad-width runs/vad-baseline silero-vad --audio speech.wav --repeats 50
  leanspeech bench enhance_gru rnnoise --json bench.json

Entries: registered model names, run directories or model files, and peers (silero-vad, webrtc-vad,
rnnoise, dnsmos, distill-mos). All process the same audio (noise of --seconds, or --audio), interleaved
round by round, at batch 1 and --threads torch threads; printed: median/min/max time, real-time factor
and the time relative to the first entry. Absolute times are local figures; the ratios are the result.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench", help="latency and real-time factor of models and peers on the same audio, as ratios",
        description="Time models and peers on the same audio in one interleaved run and print ratios.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("entries", nargs="+", metavar="ENTRY", help="model name, run directory, model file or peer")
    parser.add_argument("--audio", type=Path, help="a sound file (default: noise of --seconds at 16 kHz)")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of the noise input (default 4)")
    parser.add_argument("--repeats", type=int, default=20, help="timed rounds (median/min/max reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--json", type=Path, help="also write the table as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from leanspeech.audio.io import load_audio
    from leanspeech.report.bench import SAMPLE_RATE, ratio_table, run_bench

    if args.audio is not None:
        wav, rate = load_audio(args.audio)
    else:
        rate = SAMPLE_RATE
        wav = (0.1 * np.random.default_rng(0).standard_normal(int(args.seconds * rate))).astype(np.float32)
    rows = ratio_table(run_bench(args.entries, wav, rate, args.repeats, args.warmup, args.threads))
    table = Table(title=f"{len(wav) / rate:.2f} s of audio, {args.repeats} interleaved rounds, {args.threads} thread(s)")
    for header in ("entry", "median ms", "min ms", "max ms", "RTF", "time vs first"):
        table.add_column(header, justify="left" if header == "entry" else "right")
    for r in rows:
        table.add_row(r["name"], f"{1e3 * r['median_s']:.3f}", f"{1e3 * r['min_s']:.3f}", f"{1e3 * r['max_s']:.3f}",
                      f"{r['rtf']:.5f}", f"{r['time_vs_first']:.2f}x")
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0

"""`leanspeech` command line. Each module in leanspeech/commands/ adds one sub-command."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from leanspeech import __version__, commands
from leanspeech.errors import LeanspeechError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leanspeech",
        description="Train speech models and make them cheap to run, with cost and quality measured side by side.",
        epilog="Run `leanspeech COMMAND --help` for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"leanspeech {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(args.run(args) or 0)
    except LeanspeechError as err:
        print(f"leanspeech {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

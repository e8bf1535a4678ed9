"""Peak memory of a command: process memory (anonymous) apart from mapped file pages, over its process tree.

A study that memory-maps its features (leanspeech.data.tensor_cache) shows them as resident file pages,
which the kernel drops under pressure and reads again; only anonymous memory has to fit in RAM. A
plain maximum RSS (`/usr/bin/time -v`) adds the two, so it cannot tell them apart. This runs the
command, samples /proc/PID/status (RssAnon, RssFile) of it and every descendant each `--interval`
seconds, and prints the peaks. Linux only.

    python bench/peak_memory.py -- leanspeech study sqa --recipe recipes/sqa/large-hints.yaml \\
        --corpus data/sqa360g --out runs/sqa-large-hints
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

GIB = 1024**3


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (children as the kernel lists them per thread group)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:  # gone meanwhile
        return [pid]
    return [pid] + [p for child in children for p in descendants(int(child))]


def resident_bytes(pid: int) -> tuple[int, int]:
    """(anonymous, file-backed) resident bytes of one process; (0, 0) once it has exited."""
    anon = file = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                anon = int(line.split()[1]) * 1024
            elif line.startswith("RssFile:"):
                file = int(line.split()[1]) * 1024
    except OSError:
        pass
    return anon, file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples (default 1)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after --")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to measure after --")
    started = time.monotonic()
    process = subprocess.Popen(command)
    peak_anon = peak_file = peak_sum = 0
    while process.poll() is None:
        samples = [resident_bytes(pid) for pid in descendants(process.pid)]
        anon, file = sum(a for a, _ in samples), sum(f for _, f in samples)
        peak_anon, peak_file, peak_sum = max(peak_anon, anon), max(peak_file, file), max(peak_sum, anon + file)
        time.sleep(args.interval)
    print(f"peak memory of `{' '.join(command)}` (exit {process.returncode}, {time.monotonic() - started:.0f} s, "
          f"sampled every {args.interval:g} s): anonymous {peak_anon / GIB:.2f} GiB, file pages "
          f"{peak_file / GIB:.2f} GiB, both at once {peak_sum / GIB:.2f} GiB", flush=True)
    sys.exit(process.returncode)


if __name__ == "__main__":
    main()

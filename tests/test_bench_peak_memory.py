"""bench/peak_memory.py: anonymous memory of a command's whole process tree, apart from file pages."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "bench" / "peak_memory.py"
# A child process holds 256 MiB of its own memory (touched, so resident) for a second, then the parent exits 3.
CHILD = "a = bytearray(256 * 1024**2); import time; time.sleep(1.0)"
PARENT = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {CHILD!r}]); sys.exit(3)"


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads /proc (Linux)")
def test_peak_counts_a_child_and_passes_the_exit_code_on():
    done = subprocess.run([sys.executable, str(SCRIPT), "--interval", "0.05", "--", sys.executable, "-c", PARENT],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    anonymous = float(re.search(r"anonymous ([\d.]+) GiB", done.stdout).group(1))
    assert 0.25 <= anonymous < 1.0  # the child's 256 MiB (0.25 GiB) plus two interpreters

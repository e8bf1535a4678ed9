"""Every ```python block in the README runs, in order, in one namespace (as a reader would paste them)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_readme_has_python_examples():
    assert python_blocks(README.read_text()), "the README should show a Python example"


def test_readme_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in python_blocks(README.read_text()):
        exec(compile(block, str(README), "exec"), namespace)

"""The compiled 8-bit dot products of int8_dot.c, through ctypes, or None where they were not built.

`setup.py` builds them as an optional extension; where it could not (no C compiler), `dot_rows` is
None, `unavailable_reason` says why, and the runtime's w8a8 mode does the same integer arithmetic in
numba instead (slower, same numbers).
"""

from __future__ import annotations

import ctypes
import importlib

_POINTER, _INT64 = ctypes.c_void_p, ctypes.c_int64

try:
    _library = ctypes.CDLL(importlib.import_module("leanspeech.runtime._int8_dot").__file__)
except (ImportError, OSError) as error:
    _library, unavailable_reason = None, f"the native int8 kernel is not built ({error})"
else:
    unavailable_reason = ""

dot_rows = None
if _library is not None:
    dot_rows = _library.leanspeech_u8s8_dot_rows
    dot_rows.argtypes = [_POINTER, _INT64, _POINTER, _INT64, _POINTER, _INT64, _POINTER]
    dot_rows.restype = None
    _library.leanspeech_int8_dot_variant.restype = ctypes.c_char_p
    _library.leanspeech_int8_dot_use.argtypes = [ctypes.c_char_p]


def variant() -> str | None:
    """The instruction set the kernel runs with here ("avx512vnni", "avx2", "portable"), or None."""
    return None if _library is None else _library.leanspeech_int8_dot_variant().decode()


def use_variant(name: str) -> bool:
    """Switch to the named variant (for tests that compare them); False if this CPU lacks it."""
    return _library is not None and bool(_library.leanspeech_int8_dot_use(name.encode()))

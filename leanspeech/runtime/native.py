"""The compiled 8-bit kernels of int8_dot.c and int8_stem.c, through ctypes, or None where they were not built.

`setup.py` builds them as an optional extension; where it could not (no C compiler), `dot_rows` and
`stem` are None, `unavailable_reason` says why, the runtime's w8a8 mode does the same integer arithmetic
in numba instead (slower, same numbers) and int8 models keep PyTorch's kernel for their first layer.
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

dot_rows = stem = None
if _library is not None:
    dot_rows = _library.leanspeech_u8s8_dot_rows
    dot_rows.argtypes = [_POINTER, _INT64, _POINTER, _INT64, _POINTER, _INT64, _POINTER]
    dot_rows.restype = None
    _library.leanspeech_int8_dot_variant.restype = ctypes.c_char_p
    _library.leanspeech_int8_dot_use.argtypes = [ctypes.c_char_p]
    stem = _library.leanspeech_int8_stem  # see int8_stem.c for the arguments
    stem.argtypes = [_POINTER] + [_INT64] * 6 + [ctypes.c_int32] + [_POINTER] * 4 + [_INT64, ctypes.c_int32, _POINTER]
    stem.restype = ctypes.c_int
    _library.leanspeech_int8_stem_variant.restype = ctypes.c_char_p
    _library.leanspeech_int8_stem_use.argtypes = [ctypes.c_char_p]


def variant() -> str | None:
    """The instruction set the kernel runs with here ("avx512vnni", "avx2", "portable"), or None."""
    return None if _library is None else _library.leanspeech_int8_dot_variant().decode()


def use_variant(name: str) -> bool:
    """Switch to the named variant (for tests that compare them); False if this CPU lacks it."""
    return _library is not None and bool(_library.leanspeech_int8_dot_use(name.encode()))


def stem_variant() -> str | None:
    """The instruction set the fused stem runs with here ("avx512vnni", "portable"), or None."""
    return None if _library is None else _library.leanspeech_int8_stem_variant().decode()


def use_stem_variant(name: str) -> bool:
    """Switch the stem to the named variant (for tests that compare them); False if this CPU lacks it."""
    return _library is not None and bool(_library.leanspeech_int8_stem_use(name.encode()))

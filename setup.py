"""Build of leanspeech's one optional native part (the rest is in pyproject.toml).

runtime/int8_dot.c holds the streaming runtime's 8-bit dot products, runtime/int8_stem.c the fused int8
first layer of spectrogram CNNs; both go into one library. It is optional: where no C compiler is found
the build says so and goes on, the streaming runtime uses numba for the same arithmetic and int8 models
keep PyTorch's kernels for their first layer.
"""

import sys

from setuptools import Extension, setup

# -O3 for the portable loop; the x86 variants carry their own target attributes, so no -march is
# needed and the build runs on any x86-64 (the variant is picked at run time from the CPU's features).
flags = [] if sys.platform == "win32" else ["-O3"]
sources = ["leanspeech/runtime/int8_dot.c", "leanspeech/runtime/int8_stem.c"]
setup(ext_modules=[Extension("leanspeech.runtime._int8_dot", sources, extra_compile_args=flags, optional=True)])

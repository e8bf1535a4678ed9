"""Streaming inference at batch 1 with fused (numba) kernels: StreamingGRU, StreamingEnhancer."""

from leanspeech.runtime.gru_kernel import available_backends  # noqa: F401
from leanspeech.runtime.streaming_enhancer import StreamingEnhancer  # noqa: F401
from leanspeech.runtime.streaming_gru import FORMAT_VERSION, RuntimeFormatError, StreamingGRU  # noqa: F401

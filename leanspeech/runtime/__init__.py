"""Streaming inference at batch 1 with fused (numba) kernels: StreamingGRU, StreamingEnhancer, StreamingVADNetwork, with
fp32, fp16 or int8 weights (WEIGHT_FORMATS)."""

from leanspeech.runtime.gru_kernel import available_backends  # noqa: F401
from leanspeech.runtime.streaming_enhancer import StreamingEnhancer  # noqa: F401
from leanspeech.runtime.streaming_gru import FORMAT_VERSION, RuntimeFormatError, StreamingGRU  # noqa: F401
from leanspeech.runtime.streaming_vad import StreamingVADNetwork  # noqa: F401
from leanspeech.runtime.weight_formats import WEIGHT_FORMATS  # noqa: F401

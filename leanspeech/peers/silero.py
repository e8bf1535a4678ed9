"""Silero VAD 6 (pip silero-vad), run from the JIT or ONNX model inside its wheel.

The 16 kHz model reads chunks of 512 samples plus the previous chunk's last 64 samples as context,
keeps an LSTM state between chunks and gives one speech probability per chunk (32 ms). Chunk k scores
input samples [512 k, 512 (k + 1)); our frames take the score of the chunk holding their centre.
Other input rates are resampled to 16 kHz (its 8 kHz sibling model is not used, so that every rate
is scored by the same network, the one the cost facts describe).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from leanspeech.peers.base import chunk_scores_to_frames, mono_at_rate, require_module
from leanspeech.registry import PEERS

PIP_COMMAND = "pip install --no-deps silero-vad==6.2.3"
MODEL_RATE = 16000
CHUNK = 512
CONTEXT = 64


def _import_silero():
    # silero_vad calls torch.set_num_threads(1) when imported: undo that for the user's process.
    threads = torch.get_num_threads()
    try:
        return require_module("silero_vad", "silero-vad", PIP_COMMAND)
    finally:
        torch.set_num_threads(threads)


@dataclass(frozen=True)
class SileroCost:
    """Counted on the wheel's 16 kHz JIT model for one 512-sample chunk (plus 64 of context).

    MACs cover the convolutions (the fixed STFT basis included), the LSTMCell step and the output
    1×1 conv; elementwise work (magnitude, ReLU, LSTM gates, sigmoid) is not counted.
    """

    params: int  # learned weights of the 16 kHz network
    stft_basis: int  # the fixed STFT basis, stored as a buffer of the same size as conv weights
    macs_per_chunk: int
    chunks_per_second: float

    @property
    def macs_per_second(self) -> float:
        return self.macs_per_chunk * self.chunks_per_second


def _conv_macs(weight: torch.Tensor, output: torch.Tensor) -> int:
    # weight (out, in/groups, k) already accounts for groups: one MAC per weight per output step.
    return weight.numel() * output.shape[-1]


def count_silero_cost(jit_model: torch.jit.ScriptModule) -> SileroCost:
    """Run the 16 kHz network stage by stage on one chunk and count MACs from the real shapes."""
    net = jit_model._model
    chunk = torch.zeros(1, CONTEXT + CHUNK)
    with torch.no_grad():
        spectrum = net.stft(chunk)  # conv1d with the (258, 1, 256) basis, then magnitudes
        macs = _conv_macs(net.stft.forward_basis_buffer, spectrum)
        hidden = spectrum
        for index in range(4):
            block = getattr(net.encoder, str(index))
            hidden = block(hidden)
            macs += _conv_macs(block.reparam_conv.weight, hidden)
    if hidden.shape[-1] != 1:
        raise RuntimeError(f"silero-vad encoder gave {hidden.shape[-1]} steps per chunk, expected 1")
    lstm = net.decoder.rnn
    macs += lstm.weight_ih.numel() + lstm.weight_hh.numel()  # one LSTMCell step
    macs += getattr(net.decoder.decoder, "2").weight.numel()  # 1×1 conv to one logit
    return SileroCost(
        params=sum(p.numel() for p in net.parameters()),
        stft_basis=net.stft.forward_basis_buffer.numel(),
        macs_per_chunk=int(macs),
        chunks_per_second=MODEL_RATE / CHUNK,
    )


@PEERS.register("silero-vad")
class SileroVad:
    """Silero VAD as a frame-level speech scorer; `backend` is "onnx" (onnxruntime) or "jit" (torch).

    Both backends give the same probabilities; onnx runs chunk by chunk several times faster here.
    """

    task = "vad"
    sample_rate = MODEL_RATE

    def __init__(self, backend: str = "onnx"):
        if backend not in ("jit", "onnx"):
            raise ValueError(f"silero-vad backend must be 'jit' or 'onnx', got {backend!r}")
        self.backend = backend
        self._silero = _import_silero()
        self.model = self._load(onnx=backend == "onnx")

    def _load(self, onnx: bool):
        with warnings.catch_warnings():  # its resource lookup and torch.jit.load are deprecated upstream
            warnings.simplefilter("ignore", DeprecationWarning)
            return self._silero.load_silero_vad(onnx=onnx)

    def chunk_probabilities(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        """Speech probability per 512-sample chunk of the 16 kHz signal, state kept across chunks."""
        audio = mono_at_rate(wav, sample_rate, MODEL_RATE)
        if len(audio) < CHUNK:
            audio = np.pad(audio, (0, CHUNK - len(audio)))
        with torch.no_grad():
            probs = self.model.audio_forward(torch.from_numpy(audio)[None], MODEL_RATE)
        return probs[0].numpy().astype(np.float32)

    def frame_probabilities(
        self, wav: np.ndarray, sample_rate: int, hop_length: int, n_frames: int
    ) -> np.ndarray:
        chunks = self.chunk_probabilities(wav, sample_rate)
        return chunk_scores_to_frames(chunks, CHUNK, MODEL_RATE, hop_length, sample_rate, n_frames)

    def cost(self) -> SileroCost:
        """Parameters and MACs, counted on the wheel's JIT model whatever the backend."""
        jit_model = self.model if self.backend == "jit" else self._load(onnx=False)
        return count_silero_cost(jit_model)

"""Inference of a binary-activation QualityCNN with its activation maps stored bit-packed (numpy).

Each binary map lives between layers as uint8 (H, W, ⌈C/8⌉): channels packed 8 to a byte with
np.packbits, so 32 channels take 4 bytes per pixel instead of 128. A 3×3 conv unpacks only the rows it
needs for a tile of output rows (plus the 1-row halo), sums its 9 taps as matmuls in float32, thresholds
(Heaviside) and packs the tile straight into the next map. Max pooling a binary map is a bitwise OR of
the 2×2 neighbours, done on the packed bytes. The last map is reduced by a global pool (the count of
ones per channel) and the dense head runs in float. Dropout is the identity at inference.

The input log-mel is held as float32, or as uint8 with one affine scale (`input_bits=8`, the paper's
8-bit input spectrogram); a tile dequantizes it on the fly.

Memory is measured, not estimated: every array the program holds per sample goes through a ledger
(`MemoryLedger`) that sums the bytes of what is live and what was ever allocated; `torch_activation_memory`
measures the float model the same way from the real tensors of one forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from leanspeech.nn.binary import BinaryConv2d

TILE_ROWS = 8  # output rows per conv tile (even, so a tile pools whole 2×2 windows)


@dataclass
class MemoryLedger:
    """Bytes of the arrays that one inference holds (activations and scratch): the peak of what is live at
    once, and the total of every named buffer at its largest (a reused tile buffer counts once)."""

    live: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    peak_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes.values())

    def hold(self, name: str, array: np.ndarray) -> np.ndarray:
        self.hold_bytes(name, array.nbytes)
        return array

    def hold_bytes(self, name: str, nbytes: int) -> None:
        self.live[name] = nbytes
        self.sizes[name] = max(nbytes, self.sizes.get(name, 0))
        self.peak_bytes = max(self.peak_bytes, sum(self.live.values()))

    def release(self, name: str) -> None:
        del self.live[name]


@dataclass
class PackedConv:
    weight: np.ndarray  # (3, 3, C_in, C_out) float32: the taps as matmul operands
    bias: np.ndarray  # (C_out,)
    pool: bool

    @property
    def out_channels(self) -> int:
        return self.weight.shape[-1]


@dataclass
class InputMap:
    """The first layer's input: a (T, n_mels) view of float32 features, or their uint8 codes + affine scale."""

    values: np.ndarray
    scale: float = 1.0
    offset: float = 0.0

    def rows(self, start: int, stop: int) -> np.ndarray:
        rows = self.values[start:stop].astype(np.float32)[..., None]
        return rows if self.values.dtype == np.float32 else rows * np.float32(self.scale) + np.float32(self.offset)


def quantize_input(features: np.ndarray) -> tuple[np.ndarray, float, float]:
    """uint8 codes, scale and offset of a min/max affine 8-bit representation of a log-mel."""
    low, high = float(features.min()), float(features.max())
    scale = (high - low) / 255 or 1.0
    codes = np.clip(np.rint((features - low) / scale), 0, 255).astype(np.uint8)
    return codes, scale, low


def dequantize_input(codes: np.ndarray, scale: float, offset: float) -> np.ndarray:
    """The float32 values the runtime computes with for `input_bits=8` (the reference's input)."""
    return codes.astype(np.float32) * np.float32(scale) + np.float32(offset)


class BitpackedQualityCNN:
    """`QualityCNN(activation=<binary>)` at inference, with bit-packed maps. Call with one log-mel (n_mels, T)."""

    def __init__(self, convs: list[PackedConv], dense: list[tuple[np.ndarray, np.ndarray]], global_pool: str,
                 input_bits: int = 32, input_mean: float = 0.0, input_std: float = 1.0):
        if input_bits not in (8, 32):
            raise ValueError(f"input_bits must be 8 or 32, got {input_bits}")
        self.convs, self.dense, self.global_pool, self.input_bits = convs, dense, global_pool, input_bits
        self.input_mean, self.input_std = input_mean, input_std

    @classmethod
    def from_model(cls, model: nn.Module, input_bits: int = 32) -> BitpackedQualityCNN:
        convs = [_packed_conv(i, block) for i, block in enumerate(model.blocks)]
        linears = [m for m in model.dense if isinstance(m, nn.Linear)]
        if any(not isinstance(m, (nn.Linear, nn.ReLU)) for m in model.dense):
            raise ValueError("dense head must hold only Linear and ReLU layers")
        dense = [(_numpy(m.weight).T.copy(), _numpy(m.bias)) for m in linears]
        pool = "avg" if isinstance(model.global_pool, nn.AdaptiveAvgPool2d) else "max"
        return cls(convs, dense, pool, input_bits, getattr(model, "input_mean", 0.0), getattr(model, "input_std", 1.0))

    def __call__(self, features: np.ndarray) -> float:
        return self.run(features)[0]

    def run(self, features: np.ndarray) -> tuple[float, MemoryLedger]:
        """Predicted score of one log-mel (n_mels, T) and the ledger of the memory it used."""
        if features.ndim != 2:
            raise ValueError(f"expected one log-mel of shape (n_mels, T), got {features.shape}")
        ledger = MemoryLedger()
        image = np.ascontiguousarray(features, dtype=np.float32).T  # (T, n_mels): Table 1's time × mel
        if (self.input_mean, self.input_std) != (0.0, 1.0):  # the model's own standardisation, as in torch
            image = image * np.float32(1.0 / self.input_std) + np.float32(-self.input_mean / self.input_std)
        if self.input_bits == 8:
            codes, scale, offset = quantize_input(image)
            current: np.ndarray | InputMap = InputMap(ledger.hold("input", codes), scale, offset)
        else:
            current = InputMap(ledger.hold("input", image))
        held, channels = "input", 1
        for i, conv in enumerate(self.convs):
            out = _conv_heaviside(current, channels, conv, ledger, f"conv{i}")
            ledger.release(held)
            if conv.pool:
                current, held = ledger.hold(f"pool{i}", _or_pool(out)), f"pool{i}"
                ledger.release(f"conv{i}")
            else:
                current, held = out, f"conv{i}"
            channels = conv.out_channels
        h = ledger.hold("pooled", _global_pool(current, channels, self.global_pool, ledger))
        ledger.release(held)
        for j, (weight, bias) in enumerate(self.dense):
            h_next = h @ weight + bias
            h = ledger.hold(f"dense{j}", np.maximum(h_next, 0) if j < len(self.dense) - 1 else h_next)
        return float(h[0]), ledger


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().float().numpy()


def _packed_conv(index: int, block: nn.Module) -> PackedConv:
    conv = block.conv
    if not getattr(block.activation, "binary_output", False):
        raise ValueError(f"blocks[{index}].activation is {type(block.activation).__name__}, not a binary activation")
    if conv.kernel_size != (3, 3) or conv.padding != (1, 1) or conv.stride != (1, 1) or conv.groups != 1:
        raise ValueError(f"blocks[{index}].conv must be a 3×3 conv, stride 1, padding 1, groups 1")
    weight = conv.effective_weight() if isinstance(conv, BinaryConv2d) else conv.weight
    bias = _numpy(conv.bias) if conv.bias is not None else np.zeros(conv.out_channels, np.float32)
    pool = isinstance(block.pool, nn.MaxPool2d)
    if pool and block.pool.kernel_size not in (2, (2, 2)):
        raise ValueError(f"blocks[{index}].pool must be a 2×2 max pool")
    return PackedConv(_numpy(weight).transpose(2, 3, 1, 0).copy(), bias, pool)


def _tile_input(current: np.ndarray | InputMap, channels: int, start: int, stop: int) -> np.ndarray:
    """Rows [start, stop) of the input map as float32 (rows, W + 2, C), zero-padded outside the map."""
    height = current.values.shape[0] if isinstance(current, InputMap) else current.shape[0]
    lo, hi = max(start, 0), min(stop, height)
    if isinstance(current, InputMap):
        rows = current.rows(lo, hi)
    else:
        rows = np.unpackbits(current[lo:hi], axis=-1, count=channels).astype(np.float32)
    return np.pad(rows, ((lo - start, stop - hi), (1, 1), (0, 0)))


def _conv_heaviside(
    current: np.ndarray | InputMap, channels: int, conv: PackedConv, ledger: MemoryLedger, name: str
) -> np.ndarray:
    """H(conv3×3(x) + b) as a packed map (H, W, ⌈C_out/8⌉), computed tile by tile, held in the ledger as `name`."""
    height, width = (current.values if isinstance(current, InputMap) else current).shape[:2]
    packed = ledger.hold(name, np.empty((height, width, (conv.out_channels + 7) // 8), np.uint8))
    for start in range(0, height, TILE_ROWS):
        stop = min(start + TILE_ROWS, height)
        rows = ledger.hold("tile_in", _tile_input(current, channels, start - 1, stop + 1))
        acc = ledger.hold("tile_acc", np.broadcast_to(conv.bias, (stop - start, width, conv.out_channels)).copy())
        for dy in range(3):
            for dx in range(3):
                acc += rows[dy:dy + stop - start, dx:dx + width] @ conv.weight[dy, dx]
        packed[start:stop] = np.packbits(acc > 0, axis=-1)
        ledger.release("tile_in")
        ledger.release("tile_acc")
    return packed


def _or_pool(packed: np.ndarray) -> np.ndarray:
    """2×2 max pool (floor) of a binary map = OR of the four packed neighbours."""
    h, w = packed.shape[0] // 2 * 2, packed.shape[1] // 2 * 2
    pooled = packed[0:h:2, 0:w:2].copy()
    for dy, dx in ((1, 0), (0, 1), (1, 1)):
        pooled |= packed[dy:h:2, dx:w:2]
    return pooled


def _global_pool(packed: np.ndarray, channels: int, kind: str, ledger: MemoryLedger) -> np.ndarray:
    """Per-channel mean ("avg") or max of a packed map, unpacking one row at a time."""
    ones = np.zeros(channels, np.int64)
    for row in packed:
        bits = ledger.hold("tile_in", np.unpackbits(row, axis=-1, count=channels))
        ones = ones + bits.sum(axis=0) if kind == "avg" else np.maximum(ones, bits.max(axis=0))
        ledger.release("tile_in")
    pixels = packed.shape[0] * packed.shape[1]
    return (ones / pixels).astype(np.float32) if kind == "avg" else ones.astype(np.float32)


def torch_activation_memory(model: nn.Module, features: torch.Tensor) -> MemoryLedger:
    """The ledger of one forward of `model` on `features` (1, n_mels, T), from its real tensors: the input
    and each leaf module's output are held (views of one storage count once); a layer's input is
    released once its output exists, the least a sequential chain can keep alive."""
    ledger = MemoryLedger()
    names: dict[int, str] = {}  # live storage address → a name unique over the pass (addresses get reused)

    def hold(t: torch.Tensor) -> None:
        address = t.untyped_storage().data_ptr()
        if address not in names:
            names[address] = f"tensor{len(ledger.sizes)}"
            ledger.hold_bytes(names[address], t.untyped_storage().nbytes())

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        hold(output)
        source = inputs[0].untyped_storage().data_ptr()
        if source != output.untyped_storage().data_ptr() and source in names:
            ledger.release(names.pop(source))

    leaves = [m for m in model.modules() if not list(m.children()) and m is not getattr(model, "frontend", None)]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():
            hold(features)
            model.eval()(features)
    finally:
        for handle in handles:
            handle.remove()
    return ledger

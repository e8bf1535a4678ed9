"""A GRU layer's weights in nn.GRU layout and in the kernel's row layout.

nn.GRU keeps the gates as row chunks (r, z, n) of w_ih (3H, I) and w_hh (3H, H). The D-GRU step reads
all z rows, then only the selected neurons' r and n rows, so the kernel layout puts together what is
read together: `wz` row j = [w_iz | w_hz] (one pass over [x | h]) and `wrn` row j = [w_ir | w_hr |
w_in | w_hn], one contiguous read per selected neuron instead of four scattered rows. Each of the six
segments has its own per-row scale (the int8 scale of that nn.GRU row), and the biases are folded:
[b_iz + b_hz, b_ir + b_hr, b_in, b_hn] (b_hn stays apart: r multiplies it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leanspeech.runtime.weight_formats import QuantizedRows, format_of

SEGMENT_SCALES = ("iz", "hz", "ir", "hr", "in", "hn")  # column order of PackedGRULayer.scales


@dataclass
class GRULayerWeights:
    w_ih: np.ndarray  # (3H, I), gate chunks (r, z, n) as in nn.GRU
    w_hh: np.ndarray  # (3H, H)
    b_ih: np.ndarray  # (3H,)
    b_hh: np.ndarray  # (3H,)


@dataclass
class PackedGRULayer:
    wz: np.ndarray  # (H, I + H) [w_iz | w_hz] in the storage format
    wrn: np.ndarray  # (H, 2 (I + H)) [w_ir | w_hr | w_in | w_hn]
    scales: np.ndarray  # (H, 6) fp32, SEGMENT_SCALES
    biases: np.ndarray  # (H, 4) fp32 [b_iz + b_hz, b_ir + b_hr, b_in, b_hn]

    @property
    def hidden_size(self) -> int:
        return self.wz.shape[0]

    @property
    def input_size(self) -> int:
        return self.wz.shape[1] - self.hidden_size

    @property
    def weights(self) -> str:
        return format_of(self.wz)

    def arrays(self) -> tuple[np.ndarray, ...]:
        return self.wz, self.wrn, self.scales, self.biases


def gate_chunks(a: np.ndarray) -> dict[str, np.ndarray]:
    r, z, n = np.split(np.asarray(a, np.float32), 3)
    return {"r": r, "z": z, "n": n}


def pack_gru_layer(layer: GRULayerWeights, weights: str) -> PackedGRULayer:
    w_i, w_h, b_i, b_h = (gate_chunks(a) for a in (layer.w_ih, layer.w_hh, layer.b_ih, layer.b_hh))
    segments = {"iz": w_i["z"], "hz": w_h["z"], "ir": w_i["r"], "hr": w_h["r"], "in": w_i["n"], "hn": w_h["n"]}
    rows = {name: QuantizedRows.of(matrix, weights) for name, matrix in segments.items()}
    return PackedGRULayer(
        wz=np.ascontiguousarray(np.concatenate([rows[s].stored for s in ("iz", "hz")], axis=1)),
        wrn=np.ascontiguousarray(np.concatenate([rows[s].stored for s in ("ir", "hr", "in", "hn")], axis=1)),
        scales=np.ascontiguousarray(np.stack([rows[s].scales for s in SEGMENT_SCALES], axis=1)),
        biases=np.ascontiguousarray(
            np.stack([b_i["z"] + b_h["z"], b_i["r"] + b_h["r"], b_i["n"], b_h["n"]], axis=1), dtype=np.float32),
    )


def unpack_gru_layer(packed: PackedGRULayer) -> GRULayerWeights:
    """The fp32 nn.GRU-layout weights the packed layer computes with (dequantized); b_ih carries the
    folded biases, b_hh only b_hn."""
    inputs, size = packed.input_size, packed.hidden_size
    scaled = np.concatenate([packed.wz, packed.wrn], axis=1).astype(np.float32)
    edges = np.cumsum([0, inputs, size, inputs, size, inputs, size])
    segments = {name: scaled[:, edges[k]:edges[k + 1]] * packed.scales[:, k:k + 1]
                for k, name in enumerate(SEGMENT_SCALES)}
    zeros = np.zeros(size, np.float32)
    return GRULayerWeights(
        w_ih=np.concatenate([segments["ir"], segments["iz"], segments["in"]]),
        w_hh=np.concatenate([segments["hr"], segments["hz"], segments["hn"]]),
        b_ih=np.concatenate([packed.biases[:, 1], packed.biases[:, 0], packed.biases[:, 2]]),
        b_hh=np.concatenate([zeros, zeros, packed.biases[:, 3]]),
    )

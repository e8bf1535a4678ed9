"""D-GRU (dgru-speech-enhancement.md §3): a GRU that updates only the top-P % of its neurons per step.

The select gate of Eq. 7 keeps the A = P·J/100 neurons whose update gate is largest; the others keep
their previous state (Eq. 9). The paper's update gate is the share of the *candidate* in the new state
(h' = z·c + (1 − z)·h); PyTorch's `z` is the share of the *old* state (h' = (1 − z)·n + z·h), so the
paper's z is 1 − z_torch and the selected neurons are those with the smallest z_torch. Selection uses
the gate value itself, as Eq. 7 says, not a change |Δh|. `threshold` switches to Eq. 8 (update where
the paper's z > θ), which selects a varying number of neurons per step.

No extra parameters: `DGRU` is an `nn.GRU` (same weights and names), so a trained GRU's state dict
loads as is (convert, then fine-tune). At P = 100 without a threshold it runs nn.GRU itself.
Training: the selection is a non-differentiable mask; gradients flow through the selected neurons'
updates and, for the others, straight through the kept state. The per-step loop is vectorised over
the batch but computes every row: batched/offline D-GRU saves no time. The saving is real only at
batch 1 when the unselected rows are skipped, which `leanspeech.runtime.StreamingGRU` does.
Cost (rule below): z always, r and n and the state update for the selected rows → (1 + 2P/100)/3 of
the gate work; the O(J) selection itself is not counted (§3.3 calls it negligible).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from leanspeech.profile.rules import LayerCost, register_rule
from leanspeech.profile.torch_rules import count_gru_family


def selected_count(update_percent: float, hidden_size: int) -> int:
    """A = P·J/100 neurons updated per step, rounded, at least one."""
    return min(hidden_size, max(1, round(update_percent * hidden_size / 100)))


def select_gate(z_torch: Tensor, count: int | None = None, threshold: float | None = None) -> Tensor:
    """Binary select gate (Eq. 7 or 8) from PyTorch's update gate (..., J): True = update this neuron."""
    paper_z = 1.0 - z_torch
    if threshold is not None:
        return paper_z > threshold
    if count is None or count >= z_torch.shape[-1]:
        return torch.ones_like(z_torch, dtype=torch.bool)
    top = torch.topk(-z_torch, count, dim=-1).indices  # smallest z_torch = largest paper z, no rounding of 1 − z
    return torch.zeros_like(z_torch, dtype=torch.bool).scatter_(-1, top, True)


def dgru_layer(
    x: Tensor,
    h: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    count: int | None,
    threshold: float | None = None,
    reverse: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """One D-GRU layer and direction. x (B, T, I), h (B, H) → outputs (B, T, H), last state (B, H),
    number of updated neurons per (B, T). Gate chunks in nn.GRU order (r, z, n)."""
    inputs = nn.functional.linear(x, w_ih, b_ih).chunk(3, dim=-1)
    steps = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
    outputs: list[Tensor] = [h] * x.shape[1]
    updated: list[Tensor] = [h.new_zeros(h.shape[0])] * x.shape[1]
    for t in steps:
        h_r, h_z, h_n = nn.functional.linear(h, w_hh, b_hh).chunk(3, dim=-1)
        z = torch.sigmoid(inputs[1][:, t] + h_z)
        r = torch.sigmoid(inputs[0][:, t] + h_r)
        n = torch.tanh(inputs[2][:, t] + r * h_n)
        gate = select_gate(z.detach(), count, threshold)
        h = torch.where(gate, (1 - z) * n + z * h, h)
        outputs[t] = h
        updated[t] = gate.sum(-1).to(h.dtype)
    return torch.stack(outputs, dim=1), h, torch.stack(updated, dim=1)


class DGRU(nn.GRU):
    """Drop-in for nn.GRU with `update_percent` P (Eq. 7) or a select `threshold` θ (Eq. 8)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        update_percent: float = 100.0,
        threshold: float | None = None,
        **factory: Any,
    ):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, **factory)
        if not 0 < update_percent <= 100:
            raise ValueError(f"update_percent must be in (0, 100], got {update_percent}")
        self.update_percent = float(update_percent)
        self.threshold = threshold
        self.last_update_fraction = self.update_fraction_nominal()  # measured over the last forward

    @classmethod
    def from_gru(cls, gru: nn.GRU, update_percent: float = 100.0, threshold: float | None = None) -> DGRU:
        """A D-GRU with a trained nn.GRU's weights (the paper's route: train dense, then fine-tune sparse)."""
        layer = cls(
            gru.input_size, gru.hidden_size, gru.num_layers, gru.bias, gru.batch_first, gru.dropout,
            gru.bidirectional, update_percent=update_percent, threshold=threshold,
        )
        layer.load_state_dict(gru.state_dict())
        return layer.to(next(gru.parameters()).device)

    @property
    def count(self) -> int:
        return selected_count(self.update_percent, self.hidden_size)

    def update_fraction_nominal(self) -> float:
        return self.count / self.hidden_size

    def is_dense(self) -> bool:
        return self.threshold is None and self.count == self.hidden_size

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:  # noqa: A002
        if self.is_dense():
            self.last_update_fraction = 1.0
            return super().forward(input, hx)
        if isinstance(input, PackedSequence):
            raise TypeError("DGRU below P = 100 takes padded tensors, not a PackedSequence")
        unbatched = input.dim() == 2
        x = input.unsqueeze(0) if unbatched else (input if self.batch_first else input.transpose(0, 1))
        directions = 2 if self.bidirectional else 1
        if hx is None:
            hx = x.new_zeros(self.num_layers * directions, x.shape[0], self.hidden_size)
        elif unbatched:
            hx = hx.unsqueeze(1)
        last_states, updated = [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                out, h_last, counts = dgru_layer(
                    x, hx[layer * directions + direction],
                    getattr(self, "weight_ih" + suffix), getattr(self, "weight_hh" + suffix),
                    getattr(self, "bias_ih" + suffix) if self.bias else None,
                    getattr(self, "bias_hh" + suffix) if self.bias else None,
                    self.count, self.threshold, reverse=bool(direction),
                )
                outputs.append(out)
                last_states.append(h_last)
                updated.append(counts)
            x = torch.cat(outputs, dim=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = nn.functional.dropout(x, self.dropout, training=True)
        self.last_update_fraction = float(torch.stack(updated).mean()) / self.hidden_size
        h_n = torch.stack(last_states)
        if unbatched:
            return x.squeeze(0), h_n.squeeze(1)
        return (x if self.batch_first else x.transpose(0, 1)), h_n

    def extra_repr(self) -> str:
        select = f"threshold={self.threshold}" if self.threshold is not None else f"update_percent={self.update_percent:g}"
        return f"{super().extra_repr()}, {select}"


@register_rule(DGRU)
def count_dgru(module: DGRU, inputs: tuple[Any, ...], output: Any) -> LayerCost:
    """nn.GRU's closed form with gate work × (1 + 2f)/3, f = A/J (top-A), or for a threshold the
    fraction of neurons the last forward actually updated. Elementwise FLOPs: z (add + sigmoid = 4)
    always; r (4), n (9) and the state update (4) per selected neuron."""
    fraction = module.update_fraction_nominal() if module.threshold is None else module.last_update_fraction
    return count_gru_family(module, inputs, fraction)

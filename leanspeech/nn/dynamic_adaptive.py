"""Adaptive complexity layers for the input side of a GRU and for BatchNorm1d/2d (width-noise-injection.md, Sec. III-B).

They follow the width of the dynamic layer feeding them (`source`) and compute with its live units
only; see `leanspeech.nn.dynamic` for the shared contract (`to_plain()`, zero units beyond the width).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from leanspeech.nn.dynamic import WidthLayer, WidthSource, as_width, count_width_layer
from leanspeech.nn.dynamic_width import pad_units
from leanspeech.profile.rules import register_rule


class AdaptiveGRU(WidthLayer, nn.GRU):
    """GRU whose input features follow the width of `source` (hidden size fixed)."""

    unit_dim = -1

    def __init__(
        self,
        source: WidthSource,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ):
        nn.GRU.__init__(
            self,
            as_width(source).units,
            hidden_size,
            num_layers=num_layers,
            bias=bias,
            batch_first=batch_first,
            dropout=dropout,
            bidirectional=bidirectional,
        )
        self._init_widths(hidden_size, None, source)

    def _live_weights(self, live_in: int) -> list[Tensor]:
        """Flat weights with the first layer's input weights cut to the live input columns."""
        first_layer_inputs = {"weight_ih_l0", "weight_ih_l0_reverse"}
        return [
            getattr(self, name)[:, :live_in].contiguous() if name in first_layer_inputs else getattr(self, name)
            for name in self._flat_weights_names
        ]

    def forward(self, x: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        x = self._live_input(x, self.input_size)
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(0 if self.batch_first else 1)
            hx = None if hx is None else hx.unsqueeze(1)
        if hx is None:
            batch = x.size(0 if self.batch_first else 1)
            directions = 2 if self.bidirectional else 1
            hx = x.new_zeros(self.num_layers * directions, batch, self.hidden_size)
        output, h_n = torch._VF.gru(  # the kernel nn.GRU.forward calls, fed the cut weights
            x,
            hx,
            self._live_weights(x.size(-1)),
            self.bias,
            self.num_layers,
            float(self.dropout),
            self.training,
            self.bidirectional,
            self.batch_first,
        )
        if unbatched:
            output, h_n = output.squeeze(0 if self.batch_first else 1), h_n.squeeze(1)
        return output, h_n

    @torch.no_grad()
    def to_plain(self) -> nn.GRU:
        live_in = self.live_inputs(self.input_size)
        plain = nn.GRU(
            live_in,
            self.hidden_size,
            num_layers=self.num_layers,
            bias=self.bias,
            batch_first=self.batch_first,
            dropout=self.dropout,
            bidirectional=self.bidirectional,
            device=self.weight_ih_l0.device,
            dtype=self.weight_ih_l0.dtype,
        )
        for name, weight in zip(self._flat_weights_names, self._live_weights(live_in)):
            getattr(plain, name).copy_(weight)
        return plain


class _AdaptiveBatchNorm(WidthLayer):
    """Normalises the live channels only (their running statistics too); dead channels stay zero."""

    unit_dim = 1
    plain_type: type[nn.modules.batchnorm._BatchNorm]

    def _init_source(self, source: WidthSource) -> None:
        self._init_widths(self.num_features, None, source)

    def forward(self, x: Tensor) -> Tensor:
        self._check_input_dim(x)
        x = self._live_input(x, self.num_features)
        live = x.size(1)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        # Slices of the buffers are views: F.batch_norm's in-place update reaches the live channels only.
        y = F.batch_norm(
            x,
            self.running_mean[:live] if track and self.running_mean is not None else None,
            self.running_var[:live] if track and self.running_var is not None else None,
            None if self.weight is None else self.weight[:live],
            None if self.bias is None else self.bias[:live],
            use_batch_stats,
            factor,
            self.eps,
        )
        return pad_units(y, self.num_features, 1)

    @torch.no_grad()
    def to_plain(self) -> nn.Module:
        live = self.live_inputs(self.num_features)
        plain = self.plain_type(
            live, eps=self.eps, momentum=self.momentum, affine=self.affine, track_running_stats=self.track_running_stats
        ).to(device=self.running_mean.device if self.running_mean is not None else None)
        state = {name: (value[:live] if value.dim() == 1 else value) for name, value in self.state_dict().items()}
        plain.load_state_dict(state)
        plain.train(self.training)
        return plain


class AdaptiveBatchNorm1d(_AdaptiveBatchNorm, nn.BatchNorm1d):
    """BatchNorm1d whose channels follow the width of `source`."""

    plain_type = nn.BatchNorm1d

    def __init__(
        self, source: WidthSource, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True, track_running_stats: bool = True
    ):
        nn.BatchNorm1d.__init__(self, as_width(source).units, eps, momentum, affine, track_running_stats)
        self._init_source(source)


class AdaptiveBatchNorm2d(_AdaptiveBatchNorm, nn.BatchNorm2d):
    """BatchNorm2d whose channels follow the width of `source`."""

    plain_type = nn.BatchNorm2d

    def __init__(
        self, source: WidthSource, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True, track_running_stats: bool = True
    ):
        nn.BatchNorm2d.__init__(self, as_width(source).units, eps, momentum, affine, track_running_stats)
        self._init_source(source)


register_rule(AdaptiveGRU, AdaptiveBatchNorm1d, AdaptiveBatchNorm2d)(count_width_layer)

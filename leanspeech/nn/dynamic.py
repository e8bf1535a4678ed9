"""Dynamic (DCL) and adaptive (ACL) complexity layers: Linear, Conv1d, Conv2d (width-noise-injection.md, Sec. III-B).

A dynamic layer learns the width of its output (`LayerWidth`, see `dynamic_width` for how K is
parameterised); an adaptive layer reads the width of the layer feeding it (`source`: a dynamic layer
or its `LayerWidth`) and computes with the live inputs only. A layer can be both (a conv between two
dynamic widths). Outputs keep the full shape: units beyond the live width are exactly zero, so plain
layers downstream (activations, residual sums) stay correct, and an adaptive layer ignores them.

In eval mode each layer equals `to_plain()`, the plain torch layer holding only its live units, which
`leanspeech.compress.consolidate` swaps in. The counting rule registered here counts that plain layer,
so the profiler reports the effective width.
"""

from __future__ import annotations

from typing import Any, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from leanspeech.nn.dynamic_width import LayerWidth
from leanspeech.profile.rules import LayerCost, register_rule, rule_for
from leanspeech.profile.torch_rules import first_tensor

WidthSource = Union[LayerWidth, nn.Module]


def as_width(source: WidthSource) -> LayerWidth:
    """The `LayerWidth` of a dynamic layer (or the width itself)."""
    if isinstance(source, LayerWidth):
        return source
    width = getattr(source, "width", None)
    if isinstance(width, LayerWidth):
        return width
    raise TypeError(f"an adaptive layer needs a dynamic layer or a LayerWidth as source, got {type(source).__name__}")


class WidthLayer:
    """Mixin: live input/output counts of a layer whose output is dynamic and/or whose input is adaptive."""

    width: LayerWidth | None  # own output width (a registered submodule), None for a fixed output
    unit_dim: int  # dimension of the units (features / channels) in inputs and outputs

    def _init_widths(self, out_units: int, min_fraction: float | None, source: WidthSource | None) -> None:
        self.width = None if min_fraction is None else LayerWidth(out_units, min_fraction)
        # Not registered as a submodule: the source layer owns its width (and its state_dict entry).
        object.__setattr__(self, "source", None if source is None else as_width(source))

    def live_inputs(self, full: int) -> int:
        return full if self.source is None else self.source.live_units()

    def live_outputs(self, full: int) -> int:
        return full if self.width is None else self.width.live_units()

    def _live_input(self, x: Tensor, full: int) -> Tensor:
        if x.dim() < -self.unit_dim or x.size(self.unit_dim) != full:
            raise ValueError(
                f"{type(self).__name__} expects {full} units in dim {self.unit_dim} of its input, got shape {tuple(x.shape)}"
            )
        return x.narrow(self.unit_dim, 0, self.live_inputs(full))

    def _output(self, y: Tensor) -> Tensor:
        return y if self.width is None else self.width(y, self.unit_dim)

    def _output_gain(self, live_out: int, dtype: torch.dtype) -> Tensor:
        """Per-output-unit eval scale: √f on the boundary unit, 1 elsewhere."""
        gain = torch.ones(live_out, dtype=dtype)
        if self.width is not None:
            gain[-1] = self.width.boundary_gain()
        return gain


def _sliced(weight: Tensor, live_out: int, live_in: int, gain: Tensor) -> Tensor:
    """Rows [:live_out] and columns [:live_in] of a (out, in, ...) weight, rows scaled by `gain`."""
    w = weight[:live_out, :live_in]
    return w * gain.view(-1, *([1] * (w.dim() - 1)))


class _WidthLinear(WidthLayer, nn.Linear):
    unit_dim = -1

    def forward(self, x: Tensor) -> Tensor:
        x = self._live_input(x, self.in_features)
        live_out = self.live_outputs(self.out_features)
        bias = None if self.bias is None else self.bias[:live_out]
        return self._output(F.linear(x, self.weight[:live_out, : x.size(-1)], bias))

    @torch.no_grad()
    def to_plain(self) -> nn.Linear:
        live_in, live_out = self.live_inputs(self.in_features), self.live_outputs(self.out_features)
        gain = self._output_gain(live_out, self.weight.dtype).to(self.weight.device)
        plain = nn.Linear(live_in, live_out, bias=self.bias is not None, device=self.weight.device, dtype=self.weight.dtype)
        plain.weight.copy_(_sliced(self.weight, live_out, live_in, gain))
        if self.bias is not None:
            plain.bias.copy_(self.bias[:live_out] * gain)
        return plain


class DynamicLinear(_WidthLinear):
    """Linear layer with a learnable number of output features (optionally also adaptive input)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        min_fraction: float = 0.0625,
        source: WidthSource | None = None,
    ):
        super().__init__(in_features, out_features, bias)
        self._init_widths(out_features, min_fraction, source)


class AdaptiveLinear(_WidthLinear):
    """Linear layer whose input features follow the width of `source`."""

    def __init__(self, source: WidthSource, out_features: int, bias: bool = True):
        super().__init__(as_width(source).units, out_features, bias)
        self._init_widths(out_features, None, source)


class _WidthConv(WidthLayer):
    """Shared forward/consolidation of Conv1d and Conv2d width layers (groups=1)."""

    plain_type: type[nn.Module]

    def forward(self, x: Tensor) -> Tensor:
        x = self._live_input(x, self.in_channels)
        live_out = self.live_outputs(self.out_channels)
        bias = None if self.bias is None else self.bias[:live_out]
        return self._output(self._conv_forward(x, self.weight[:live_out, : x.size(self.unit_dim)], bias))

    @torch.no_grad()
    def to_plain(self) -> nn.Module:
        live_in, live_out = self.live_inputs(self.in_channels), self.live_outputs(self.out_channels)
        gain = self._output_gain(live_out, self.weight.dtype).to(self.weight.device)
        plain = self.plain_type(
            live_in,
            live_out,
            self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            bias=self.bias is not None,
            padding_mode=self.padding_mode,
            device=self.weight.device,
            dtype=self.weight.dtype,
        )
        plain.weight.copy_(_sliced(self.weight, live_out, live_in, gain))
        if self.bias is not None:
            plain.bias.copy_(self.bias[:live_out] * gain)
        return plain


def _conv_kwargs(stride: Any, padding: Any, dilation: Any, bias: bool, padding_mode: str) -> dict[str, Any]:
    return dict(stride=stride, padding=padding, dilation=dilation, bias=bias, padding_mode=padding_mode)


class DynamicConv1d(_WidthConv, nn.Conv1d):
    """Conv1d with a learnable number of output channels (optionally also adaptive input)."""

    unit_dim = -2
    plain_type = nn.Conv1d

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int | str = 0,
        dilation: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        min_fraction: float = 0.0625,
        source: WidthSource | None = None,
    ):
        nn.Conv1d.__init__(self, in_channels, out_channels, kernel_size, **_conv_kwargs(stride, padding, dilation, bias, padding_mode))
        self._init_widths(out_channels, min_fraction, source)


class AdaptiveConv1d(_WidthConv, nn.Conv1d):
    """Conv1d whose input channels follow the width of `source`."""

    unit_dim = -2
    plain_type = nn.Conv1d

    def __init__(
        self,
        source: WidthSource,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int | str = 0,
        dilation: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
    ):
        in_channels = as_width(source).units
        nn.Conv1d.__init__(self, in_channels, out_channels, kernel_size, **_conv_kwargs(stride, padding, dilation, bias, padding_mode))
        self._init_widths(out_channels, None, source)


class DynamicConv2d(_WidthConv, nn.Conv2d):
    """Conv2d with a learnable number of output channels (optionally also adaptive input)."""

    unit_dim = -3
    plain_type = nn.Conv2d

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | str | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        min_fraction: float = 0.0625,
        source: WidthSource | None = None,
    ):
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, **_conv_kwargs(stride, padding, dilation, bias, padding_mode))
        self._init_widths(out_channels, min_fraction, source)


class AdaptiveConv2d(_WidthConv, nn.Conv2d):
    """Conv2d whose input channels follow the width of `source`."""

    unit_dim = -3
    plain_type = nn.Conv2d

    def __init__(
        self,
        source: WidthSource,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | str | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
    ):
        in_channels = as_width(source).units
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, **_conv_kwargs(stride, padding, dilation, bias, padding_mode))
        self._init_widths(out_channels, None, source)


@register_rule(DynamicLinear, AdaptiveLinear, DynamicConv1d, AdaptiveConv1d, DynamicConv2d, AdaptiveConv2d)
def count_width_layer(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> LayerCost:
    """Cost of the plain layer holding only the live units, counted by the plain layer's own rule."""
    plain = module.to_plain()
    x = inputs[0]
    live_x = x if module.source is None else x.narrow(module.unit_dim, 0, module.source.live_units())
    live_inputs = (live_x, *inputs[1:])
    with torch.no_grad():
        live_output = plain(*live_inputs)
    rule = rule_for(plain)
    if rule is None:
        raise LookupError(f"no counting rule is registered for {type(plain).__name__}")
    cost = rule(plain, live_inputs, live_output)
    if cost.params is None:
        cost.params = float(sum(p.numel() for p in plain.parameters()))
    if cost.activations is None:
        cost.activations = float(first_tensor(live_output).numel())
    cost.note = f"{cost.note} live width {live_x.size(module.unit_dim)} in, {first_tensor(live_output).size(module.unit_dim)} out".strip()
    return cost

"""DynResNet34: ResNet34 whose residual stacks learn their channel counts (width-noise-injection.md §VI.B, Fig. 7b).

Where the dynamic width sits. The paper puts "a DynamicLinear layer at the end of each residual
block" and adapts "each layer connected to it". In a residual stack the identity skips add every
block's output to the next one's, so all blocks of a stack (and the stack's input skip) must share one
channel count: one `LayerWidth` per stack, the C ≤ of Fig. 7b. It is applied by the last weighted
layer of every block (conv2, before its BatchNorm) and by the skip projection that opens the stack
(the stem for stack 0, whose first block has an identity skip), so no extra layer is added and
DynResNet34 at full width is exactly ResNet34. The layers connected to that width adapt: conv1 and
the projection of the next stack read only the live channels, every BatchNorm on the width follows
it, and so do the attentive statistics pooling and the final Linear. Each block's inner width
(conv1 → conv2) is not connected to the dynamic layer and stays at the stack's full width.

That placement explains the paper's numbers: at the learned {5, 9, 17, 42} a conv costs
≈ K·C instead of C·C, so FLOP/s fall by 85.1 % and parameters by 84.7 % (the paper: ≈ 84 % and
≈ 90 %), while a plain ResNet34 at {5, 9, 17, 42} everywhere would save 97.5 % / 94.9 % (profiler, 4 s input).

`stacks_learning` picks which stacks learn (the paper's single-stack B0..B3 runs, "BX" for all);
the others stay fixed. `leanspeech.compress.consolidate` turns the model into plain layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from leanspeech.models.spoof_resnet import BasicBlock, SpoofResNet34
from leanspeech.nn.dynamic import AdaptiveConv2d, WidthLayer, _WidthConv, count_width_layer
from leanspeech.nn.dynamic_adaptive import AdaptiveBatchNorm2d
from leanspeech.nn.dynamic_width import LayerWidth, pad_units
from leanspeech.nn.pooling import AttentiveStatisticsPooling, attentive_statistics_pool, STD_FLOOR
from leanspeech.profile.counter import count
from leanspeech.profile.rules import LayerCost, register_rule
from leanspeech.registry import MODELS

STACK_NAMES = ("B0", "B1", "B2", "B3")


class SharedWidthConv2d(_WidthConv, nn.Conv2d):
    """Conv2d whose output channels follow a `LayerWidth` shared by a whole stack (optionally adaptive input).

    `owner`: this layer holds the width as a submodule (its state_dict entry); the others only refer
    to it, so consolidation, which replaces the owner, leaves no width behind.
    """

    unit_dim = -3
    plain_type = nn.Conv2d

    def __init__(self, in_channels: int, width: LayerWidth, kernel_size: int, stride: int = 1, padding: int = 0,
                 source: LayerWidth | None = None, owner: bool = False):
        nn.Conv2d.__init__(self, in_channels, width.units, kernel_size, stride=stride, padding=padding, bias=False)
        if owner:
            self.width = width
        else:
            object.__setattr__(self, "width", width)
        object.__setattr__(self, "source", source)


register_rule(SharedWidthConv2d)(count_width_layer)


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int, source: LayerWidth | None,
          width: LayerWidth | None, owner: bool = False) -> nn.Module:
    """The plain, adaptive-input, or shared-width conv that fits the widths around it (no bias: BN follows)."""
    padding = kernel // 2
    if width is not None:
        return SharedWidthConv2d(in_channels, width, kernel, stride, padding, source, owner)
    if source is not None:
        return AdaptiveConv2d(source, out_channels, kernel, stride=stride, padding=padding, bias=False)
    return nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding, bias=False)


def _norm(channels: int, width: LayerWidth | None) -> nn.Module:
    return nn.BatchNorm2d(channels) if width is None else AdaptiveBatchNorm2d(width)


def dynamic_block(block: BasicBlock, source: LayerWidth | None, width: LayerWidth | None, owner: bool) -> None:
    """Swap a block's layers in place for the ones reading `source` (its input width) and writing `width`."""
    if source is None and width is None:
        return
    inner, out_channels, stride = block.conv1.out_channels, block.conv2.out_channels, block.conv1.stride[0]
    block.conv1 = _conv(block.conv1.in_channels, inner, 3, stride, source, None)
    block.conv2 = _conv(inner, out_channels, 3, 1, None, width)
    block.bn2 = _norm(out_channels, width)
    if not isinstance(block.shortcut, nn.Identity):
        block.shortcut = nn.Sequential(
            _conv(block.conv1.in_channels, out_channels, 1, stride, source, width, owner), _norm(out_channels, width)
        )


class _FeatureWidth(WidthLayer):
    """Reads the flattened (channels × rows) features of the last stack: `rows` features per live channel."""

    rows: int
    unit_dim = 1

    def live_features(self) -> int:
        return self.source.live_units() * self.rows


class AdaptiveStatisticsPooling(_FeatureWidth, AttentiveStatisticsPooling):
    """Attentive statistics pooling over the live features only; its output keeps the full layout
    [mean (F), std (F)] with exact zeros for the dead features, so the head can drop them."""

    def __init__(self, source: LayerWidth, rows: int, attention_channels: int = 128):
        AttentiveStatisticsPooling.__init__(self, source.units * rows, attention_channels)
        self.rows = rows
        self._init_widths(self.channels, None, source)

    def _context_columns(self, live: int) -> Tensor:
        """Columns of the first attention conv that read [x, mean, std] of the live features."""
        return torch.cat([torch.arange(live) + part * self.channels for part in range(3)])

    def forward(self, x: Tensor) -> Tensor:
        live = self.live_features()
        x = x.narrow(1, 0, live)
        mean = x.mean(dim=-1, keepdim=True)
        std = (x - mean).pow(2).mean(dim=-1, keepdim=True).clamp_min(STD_FLOOR).sqrt()
        context = torch.cat([x, mean.expand_as(x), std.expand_as(x)], dim=1)
        first, relu, norm, tanh, last = self.attention
        columns = self._context_columns(live).to(x.device)
        h = tanh(norm(relu(F.conv1d(context, first.weight[:, columns], first.bias))))
        scores = F.conv1d(h, last.weight[:live], last.bias[:live])
        pooled_mean, pooled_std = attentive_statistics_pool(x, scores).split(live, dim=1)
        return torch.cat([pad_units(pooled_mean, self.channels, 1), pad_units(pooled_std, self.channels, 1)], dim=1)

    @torch.no_grad()
    def to_plain(self) -> AttentiveStatisticsPooling:
        live = self.live_features()
        plain = AttentiveStatisticsPooling(live, self.attention[0].out_channels).to(self.attention[0].weight.device)
        state = self.state_dict()
        state["attention.0.weight"] = state["attention.0.weight"][:, self._context_columns(live)]
        state["attention.4.weight"], state["attention.4.bias"] = state["attention.4.weight"][:live], state["attention.4.bias"][:live]
        plain.load_state_dict(state)
        return plain.train(self.training)


class AdaptiveStatisticsLinear(_FeatureWidth, nn.Linear):
    """The logit layer over [mean (F), std (F)]: reads the live mean and std features only."""

    unit_dim = -1

    def __init__(self, source: LayerWidth, rows: int, out_features: int = 1):
        nn.Linear.__init__(self, 2 * source.units * rows, out_features)
        self.rows = rows
        self._init_widths(out_features, None, source)

    def _columns(self) -> Tensor:
        live, full = self.live_features(), self.in_features // 2
        return torch.cat([torch.arange(live), torch.arange(live) + full])

    def forward(self, x: Tensor) -> Tensor:
        columns = self._columns().to(x.device)
        return F.linear(x[..., columns], self.weight[:, columns], self.bias)

    @torch.no_grad()
    def to_plain(self) -> nn.Linear:
        columns = self._columns().to(self.weight.device)
        plain = nn.Linear(len(columns), self.out_features, device=self.weight.device)
        plain.weight.copy_(self.weight[:, columns])
        plain.bias.copy_(self.bias)
        return plain


@register_rule(AdaptiveStatisticsPooling, AdaptiveStatisticsLinear)
def count_feature_width_layer(module: _FeatureWidth, inputs: tuple[Any, ...], output: Tensor) -> LayerCost:
    """Cost of the plain layer at the live width, counted by the profiler on the live features."""
    plain = module.to_plain().eval()
    x = inputs[0]
    live_x = x.narrow(1, 0, module.live_features()) if isinstance(module, AdaptiveStatisticsPooling) \
        else x[..., module._columns().to(x.device)]
    result = count(plain, lambda: plain(live_x))
    return LayerCost(
        macs=result.total("macs"), flops=result.total("flops"), params=float(sum(p.numel() for p in plain.parameters())),
        activations=result.total("activations"), note=f"live features {live_x.size(-2 if live_x.dim() == 3 else -1)}",
    )


@MODELS.register("dyn_spoof_resnet34")
class DynResNet34(SpoofResNet34):
    """ResNet34 countermeasure with a learnable channel count per residual stack (B0..B3)."""

    def __init__(
        self,
        channels: Sequence[int] = (32, 64, 128, 256),
        depths: Sequence[int] = (3, 4, 6, 3),
        n_mels: int = 80,
        attention_channels: int = 128,
        sample_rate: int = 16000,
        n_fft: int = 1024,
        hop_length: int = 256,
        stacks_learning: Sequence[str] = STACK_NAMES,
        min_fraction: float = 0.125,
    ):
        super().__init__(channels, depths, n_mels, attention_channels, sample_rate, n_fft, hop_length)
        names = STACK_NAMES[: len(channels)]
        unknown = sorted(set(stacks_learning) - set(names))
        if unknown:
            raise ValueError(f"unknown stack(s) {unknown}; this model's stacks are {list(names)}")
        widths = {name: LayerWidth(c, min_fraction) if name in stacks_learning else None for name, c in zip(names, channels)}
        self._stack_names = [name for name in names if widths[name] is not None]
        first = widths[names[0]]
        if first is not None:  # stack 0's first block skips the stem's output unchanged: the stem writes the width
            self.stem[0] = _conv(1, channels[0], 3, 1, None, first, owner=True)
            self.stem[1] = _norm(channels[0], first)
        source = first
        for name, stack in zip(names, self.stacks):
            width = widths[name]
            for index, block in enumerate(stack):
                dynamic_block(block, source if index == 0 else width, width, owner=index == 0 and name != names[0])
            source = width
        if source is not None:
            rows = self.pooling.channels // channels[-1]
            self.pooling = AdaptiveStatisticsPooling(source, rows, attention_channels)
            self.head = AdaptiveStatisticsLinear(source, rows)

    def stack_widths(self) -> dict[str, LayerWidth]:
        """{"B0": width, ...} for the stacks that learn their channel count."""
        found: dict[str, LayerWidth] = {}
        for stack in self.stacks:
            conv = stack[0].conv2
            if isinstance(conv, SharedWidthConv2d):
                found[self._stack_names[len(found)]] = conv.width
        return found


def channel_progression(model: SpoofResNet34) -> list[int]:
    """Live output channels of every residual stack, for a ResNet34, a DynResNet34 or a consolidated one."""
    return [s[0].conv2.width.live_units() if isinstance(s[0].conv2, SharedWidthConv2d) else s[0].conv2.out_channels
            for s in model.stacks]

"""The fused int8 stem: a 3×3 convolution of a one-channel image → ReLU → 2×2 max pooling in one native
pass (int8_stem.c), for int8 spectrogram CNNs that start that way (the DNSMOS CNN of bam-qat-sqp.md).

Why: PyTorch's x86 int8 convolution (oneDNN) serves one input channel poorly. The DNSMOS CNN's first
layer (15.5 M MACs on a 9 s clip) took 0.48 ms at batch 1 on one thread, plus 0.11 ms of pooling, while
the next layer's 124 M MACs took 0.62 ms; the fused kernel does convolution, ReLU and pooling in 0.15 ms
and gives the same integers (AMD EPYC with AVX-512 VNNI, 2026-12-06; `bench/bam_memory_latency.py`).

`fuse_int8_stems` puts an `Int8Stem` in place of each such convolution + pooling pair of a converted
int8 graph, where the CPU has AVX-512 VNNI (elsewhere only the portable C variant exists, slower than
oneDNN, and the graph is left as it is). The stem falls back to PyTorch's modules for inputs the kernel
does not take and when torch runs more intra-op threads than `MAX_THREADS`, since the kernel runs on one.
"""

from __future__ import annotations

import torch
from torch import Tensor, fx, nn
from torch.ao.nn.intrinsic.quantized import ConvReLU2d

from leanspeech.profile import costs
from leanspeech.profile.rules import LayerCost
from leanspeech.runtime import native

# The kernel is single-threaded; oneDNN's convolution is not. Measured faster at 1 and 2 threads (0.15 vs
# 0.59 and 0.35 ms at batch 1, 2-core machine); with more threads PyTorch's path is kept, unmeasured.
MAX_THREADS = 2
CHANNEL_BLOCK = 16  # output channels per VNNI register


def is_stem_conv(module: nn.Module) -> bool:
    """An int8 Conv2d + ReLU with one input channel, 3×3 kernel, stride 1, zero padding 1 and symmetric
    int8 weights, and output channels in blocks of 16: what the kernel computes."""
    if not isinstance(module, ConvReLU2d):
        return False
    weight = module.weight()
    zero_points = (weight.q_per_channel_zero_points() if weight.qscheme() == torch.per_channel_affine
                   else torch.tensor([weight.q_zero_point()]))
    return (module.in_channels == 1 and module.groups == 1 and module.kernel_size == (3, 3)
            and module.stride == (1, 1) and module.padding == (1, 1) and module.dilation == (1, 1)
            and module.padding_mode == "zeros" and module.out_channels % CHANNEL_BLOCK == 0
            and weight.dtype == torch.qint8 and bool((zero_points == 0).all()))


def is_half_pool(module: nn.Module) -> bool:
    """MaxPool2d(2): 2×2 windows, stride 2, no padding, floor mode."""
    if not isinstance(module, nn.MaxPool2d):
        return False
    return (_pair(module.kernel_size) == (2, 2) and _pair(module.stride) == (2, 2) and _pair(module.padding) == (0, 0)
            and _pair(module.dilation) == (1, 1) and not module.ceil_mode and not module.return_indices)


def _pair(value: int | tuple[int, ...]) -> tuple[int, ...]:
    return (value, value) if isinstance(value, int) else tuple(value)


class Int8Stem(nn.Module):
    """`pool(conv(x))` for a quantized (B, 1, H, W) quint8 image, in one native pass; the same integers.

    The convolution and pooling modules stay where they were (their state is the model's); they are kept
    here unregistered, for the inputs the kernel does not take."""

    def __init__(self, conv: ConvReLU2d, pool: nn.MaxPool2d):
        super().__init__()
        if not (is_stem_conv(conv) and is_half_pool(pool)):
            raise ValueError("Int8Stem takes an int8 ConvReLU2d(1 → 16·k, 3×3, padding 1) and a MaxPool2d(2)")
        if native.stem is None:
            raise RuntimeError(native.unavailable_reason)
        self._fallback = (conv, pool)
        weight = conv.weight()
        integers = weight.int_repr().reshape(conv.out_channels, 3, 3)
        rows = torch.zeros(3, conv.out_channels, 4, dtype=torch.int8)  # (kernel row, channel, 3 taps + a zero)
        rows[:, :, :3] = integers.permute(1, 0, 2)
        self._rows = rows
        self._weight_sums = integers.sum((1, 2), dtype=torch.int32)
        scales = (weight.q_per_channel_scales() if weight.qscheme() == torch.per_channel_affine
                  else torch.full((conv.out_channels,), weight.q_scale()))
        self._weight_scales = scales.double()
        bias = conv.bias()
        self._offset = (torch.zeros(conv.out_channels) if bias is None else bias.detach() / conv.scale).float()
        self._input_qparams: tuple[float, int] | None = None

    def _requantization(self, scale: float, zero_point: int) -> None:
        """Per-channel zero-point correction and multiplier for an input quantized with these parameters."""
        if self._input_qparams != (scale, zero_point):
            self._correction = zero_point * self._weight_sums  # int32, like the sums
            self._multiplier = (scale * self._weight_scales / self._fallback[0].scale).float().contiguous()
            self._input_qparams = (scale, zero_point)

    def profile_cost(self, inputs: tuple[Tensor, ...], output: Tensor) -> LayerCost:
        """The convolution's MACs, its ReLU and the pooling, as the two modules would count them, the
        activations included (the profiler's convention counts the convolution's map, pooling adds none),
        so that a profile does not depend on whether this CPU fused the stem."""
        conv = self._fallback[0]
        conv_outputs = output.shape[0] * conv.out_channels * inputs[0].shape[2] * inputs[0].shape[3]
        cost = costs.conv_cost(conv_outputs, 1, 1, conv.kernel_size, conv.bias() is not None)
        cost.flops = cost.total_flops + costs.ELEMENTWISE_FLOPS["relu"] * conv_outputs + output.numel()
        cost.activations = float(conv_outputs)
        cost.note = "int8, fused"
        return cost

    def forward(self, x: Tensor) -> Tensor:
        conv, pool = self._fallback
        if (x.dtype != torch.quint8 or x.dim() != 4 or x.shape[1] != 1 or min(x.shape[2:]) < 2
                or x.qscheme() != torch.per_tensor_affine or torch.get_num_threads() > MAX_THREADS):
            return pool(conv(x))
        batch, _, rows, cols = x.shape
        self._requantization(x.q_scale(), x.q_zero_point())
        out = torch._empty_affine_quantized((batch, conv.out_channels, rows // 2, cols // 2), scale=conv.scale,
                                            zero_point=conv.zero_point, dtype=torch.quint8,
                                            memory_format=torch.channels_last)
        strides = x.stride()
        status = native.stem(x.data_ptr(), batch, rows, cols, strides[0], strides[2], strides[3], x.q_zero_point(),
                             self._rows.data_ptr(), self._correction.data_ptr(), self._multiplier.data_ptr(),
                             self._offset.data_ptr(), conv.out_channels, conv.zero_point, out.data_ptr())
        if status != 0:
            raise MemoryError(f"int8 stem: no memory for a padded copy of a {rows}×{cols} image")
        return out


def fuse_int8_stems(graph_module: fx.GraphModule) -> list[str]:
    """Replaces each `ConvReLU2d` (as `is_stem_conv`) whose only user is a `MaxPool2d(2)` in a converted
    int8 graph with an `Int8Stem`, where the VNNI kernel runs on this CPU. Returns the fused convolutions'
    names (empty where nothing was fused)."""
    if native.stem is None or native.stem_variant() != "avx512vnni":
        return []
    modules = dict(graph_module.named_modules())
    graph = graph_module.graph
    fused = []
    for node in list(graph.nodes):
        if node.op != "call_module" or not is_stem_conv(modules[node.target]) or len(node.users) != 1:
            continue
        (pool_node,) = node.users
        if pool_node.op != "call_module" or not is_half_pool(modules[pool_node.target]):
            continue
        name = f"{node.target.replace('.', '_')}_stem"
        graph_module.add_submodule(name, Int8Stem(modules[node.target], modules[pool_node.target]))
        with graph.inserting_before(pool_node):
            stem = graph.call_module(name, node.args)
        pool_node.replace_all_uses_with(stem)
        graph.erase_node(pool_node)
        graph.erase_node(node)
        fused.append(node.target)
    if fused:
        graph_module.recompile()
    return fused

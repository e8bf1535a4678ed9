"""Binarize any model: swap its conv activations for Heaviside, its convs for binary-weight convs.

`binarize_activations(model)` on a trained float model is the paper's post-training binarization, the
no-QAT baseline (bam-qat-sqp.md: test PCC 0.84 → 0.54); building the model with a binary activation
and training it is the QAT path. Which activations are swapped: by default those that directly follow
a convolution in the model's module order (the paper binarizes the convolutional layers and keeps the
dense head's ReLUs); pass `names` to choose others. Both functions return a modified deep copy.
"""

from __future__ import annotations

import copy
from typing import Callable, Iterable

from torch import nn

from leanspeech.nn.binary import DEFAULT_BETA, BinaryActivation, BinaryActivationSTE, BinaryConv2d

ACTIVATION_TYPES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardtanh,
    nn.Hardswish, nn.Mish, nn.Softplus,
)
CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
SURROGATES: dict[str, Callable[[float], nn.Module]] = {
    "superspike": lambda beta: BinaryActivation(beta),
    "ste": lambda beta: BinaryActivationSTE(),
}


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules() if name and not list(m.children())]


def conv_activations(model: nn.Module) -> list[str]:
    """Names of activation modules whose preceding leaf module (in registration order) is a convolution."""
    leaves = _leaves(model)
    return [
        name for (name, module), (_, previous) in zip(leaves[1:], leaves[:-1])
        if isinstance(module, ACTIVATION_TYPES) and isinstance(previous, CONV_TYPES)
    ]


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)


def binarize_activations(
    model: nn.Module, beta: float = DEFAULT_BETA, surrogate: str = "superspike", names: Iterable[str] | None = None,
) -> nn.Module:
    """A copy of `model` with the selected activations replaced by Heaviside (SuperSpike or STE gradient)."""
    if surrogate not in SURROGATES:
        raise ValueError(f"surrogate must be one of {sorted(SURROGATES)}, got {surrogate!r}")
    selected = conv_activations(model) if names is None else list(names)
    if not selected:
        raise ValueError(f"{type(model).__name__}: no activation follows a convolution; pass names= explicitly")
    binary = copy.deepcopy(model)
    known = dict(binary.named_modules())
    for name in selected:
        if name not in known:
            raise ValueError(f"{type(model).__name__} has no module named {name!r}")
        _replace(binary, name, SURROGATES[surrogate](beta))
    return binary


def binarize_weights(model: nn.Module, beta: float = DEFAULT_BETA) -> nn.Module:
    """A copy of `model` with every nn.Conv2d replaced by a BinaryConv2d holding the same latent weights.
    The binary weights are the signs of the float ones, He-scaled."""
    binary = copy.deepcopy(model)
    convs = [(name, m) for name, m in binary.named_modules() if type(m) is nn.Conv2d]
    for name, conv in convs:
        new = BinaryConv2d(
            conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding,
            dilation=conv.dilation, groups=conv.groups, bias=conv.bias is not None, padding_mode=conv.padding_mode,
            beta=beta,
        )
        new.load_state_dict(conv.state_dict())
        new.to(conv.weight.device, conv.weight.dtype)
        _replace(binary, name, new)
    return binary

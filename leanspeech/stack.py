"""Stacking: compression steps applied in order to a trained model, each step registered by name.

A stack is a list of `{name: step, ...arguments}` (YAML, e.g. recipes/stack/*.yaml): `consolidate`
(dynamic widths → plain layers), `dgru` (every nn.GRU → D-GRU with update_percent P), `binarize`
(activations after convolutions → Heaviside), `int8` (static post-training quantization, calibrated on
the model's own example features). Each step takes a model and returns a new one, so steps compose:
width-learned VAD → consolidate → D-GRU; binary activations → int8; ... A step that does not apply to a
model (nothing to consolidate, no GRU) raises a StackError naming the step and the model.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from torch import nn

from leanspeech.errors import LeanspeechError
from leanspeech.registry import Registry

STEPS: Registry = Registry("compression step")


class StackError(LeanspeechError):
    pass


@STEPS.register("consolidate")
def consolidate_step(model: nn.Module) -> nn.Module:
    from leanspeech.compress.consolidate import consolidate, live_widths

    if not live_widths(model):
        raise StackError(f"consolidate: {type(model).__name__} has no dynamic widths")
    return consolidate(model)


@STEPS.register("dgru")
def dgru_step(model: nn.Module, update_percent: float = 50.0) -> nn.Module:
    from leanspeech.nn.dgru import DGRU

    result = copy.deepcopy(model)
    grus = [name for name, m in result.named_modules() if type(m) is nn.GRU]
    if not grus:
        raise StackError(f"dgru: {type(model).__name__} has no nn.GRU")
    for name in grus:
        parent, _, child = name.rpartition(".")
        owner = result.get_submodule(parent) if parent else result
        setattr(owner, child, DGRU.from_gru(getattr(owner, child), update_percent))
    return result


@STEPS.register("binarize")
def binarize_step(model: nn.Module, beta: float = 5.0) -> nn.Module:
    from leanspeech.compress.binarize import binarize_activations

    try:
        return binarize_activations(model, beta=beta)
    except ValueError as err:
        raise StackError(f"binarize: {err}") from None


@STEPS.register("int8")
def int8_step(model: nn.Module, calibration_batches: int = 4, seconds: float = 2.0) -> nn.Module:
    from leanspeech.compress.quantize import quantize_static

    if not hasattr(model, "example_wav"):
        raise StackError(f"int8: {type(model).__name__} is not a SpeechModel (calibration needs its features)")
    batches = [model.features(model.example_wav(seconds, batch=2, seed=i)).detach() for i in range(calibration_batches)]
    try:
        return quantize_static(model, batches, observer="minmax")
    except Exception as err:  # FX tracing raises many types for code it cannot trace
        raise StackError(f"int8: {type(model).__name__} cannot be quantized ({type(err).__name__}: {err})") from None


def apply_stack(model: nn.Module, steps: list[dict[str, Any] | str]) -> nn.Module:
    """`model` after every step in order (each a name or {name: ..., arguments})."""
    for index, step in enumerate(steps):
        step = {"name": step} if isinstance(step, str) else dict(step)
        name = step.pop("name", None)
        if name not in STEPS:
            raise StackError(f"steps.{index}: unknown step {name!r}; known: {', '.join(STEPS.names())}")
        build: Callable[..., nn.Module] = STEPS.get(name)
        model = build(model, **step)
    return model

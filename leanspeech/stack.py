"""Stacking: compression steps applied in order to a trained model, each step registered by name.

A stack is a list of `{name: step, ...arguments}` (YAML, e.g. recipes/stack/*.yaml): `consolidate`
(dynamic widths → plain layers), `dgru` (every nn.GRU → D-GRU with update_percent P), `binarize`
(activations after convolutions → Heaviside), `prune` (iterative Taylor or magnitude pruning with
fine-tuning; whole channels are then removed for real), `finetune` (AdamW on the task's data), `int8`
(static post-training quantization, calibrated on the task's training data). Each step takes a model
and returns a new one, so steps compose: width-learned VAD → consolidate → D-GRU → finetune → int8;
Taylor pruning → int8; binary activations → prune → int8. A step that does not apply to a model
(nothing to consolidate, no GRU) raises a StackError naming the step and the model.

Steps that train or calibrate (`prune`, `finetune`, `int8`) need a task: data, a loss and the model's
inputs (`leanspeech.studies.stack_tasks`); `leanspeech study stack` provides it.
"""

from __future__ import annotations

import copy
import inspect
import itertools
from typing import TYPE_CHECKING, Any, Callable

import torch
from torch import nn
from tqdm import tqdm

from leanspeech.errors import LeanspeechError
from leanspeech.registry import Registry

if TYPE_CHECKING:
    from leanspeech.studies.stack_tasks import StackTask

STEPS: Registry = Registry("compression step")


class StackError(LeanspeechError):
    pass


def _needs_task(step: str, task: StackTask | None) -> StackTask:
    if task is None:
        raise StackError(f"{step}: this step trains or calibrates on data; give a task "
                         "(leanspeech.studies.stack_tasks, or run the stack with `leanspeech study stack`)")
    return task


def _trainable(step: str, model: nn.Module) -> None:
    if getattr(model, "quantized", False):
        raise StackError(f"{step}: {type(model).__name__} is int8 already; int8 must be the last step")


@STEPS.register("consolidate")
def consolidate_step(model: nn.Module, task: StackTask | None = None) -> nn.Module:
    from leanspeech.compress.consolidate import consolidate, live_widths

    if not live_widths(model):
        raise StackError(f"consolidate: {type(model).__name__} has no dynamic widths")
    return consolidate(model)


@STEPS.register("dgru")
def dgru_step(model: nn.Module, task: StackTask | None = None, update_percent: float = 50.0) -> nn.Module:
    from leanspeech.nn.dgru import DGRU

    _trainable("dgru", model)
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
def binarize_step(model: nn.Module, task: StackTask | None = None, beta: float = 5.0) -> nn.Module:
    from leanspeech.compress.binarize import binarize_activations

    _trainable("binarize", model)
    try:
        return binarize_activations(model, beta=beta)
    except ValueError as err:
        raise StackError(f"binarize: {err}") from None


@STEPS.register("finetune")
def finetune_step(model: nn.Module, task: StackTask | None = None, steps: int = 100, lr: float = 1e-4,
                  weight_decay: float = 1e-2) -> nn.Module:
    """`steps` AdamW steps on the task's training batches; the model comes back in eval mode."""
    task = _needs_task("finetune", task)
    _trainable("finetune", model)
    result = copy.deepcopy(model).train()
    optimizer = torch.optim.AdamW(result.parameters(), lr=lr, weight_decay=weight_decay)
    for batch in tqdm(itertools.islice(task.batches(), steps), total=steps, desc="finetune", unit="step"):
        loss = task.loss(result, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return result.eval()


@STEPS.register("prune")
def prune_step(model: nn.Module, task: StackTask | None = None, sparsity: float = 0.5, criterion: str = "taylor",
               granularity: str = "channel", step_fraction: float = 0.02, finetune_steps: int = 10,
               lr: float = 1e-4, exclude: tuple[str, ...] | list[str] = ()) -> nn.Module:
    """Iterative pruning to `sparsity` (compress.prune: Taylor scores by default, fine-tuning between
    steps); with whole channels pruned, a model that can shrink its dead channels does, for real speed."""
    from leanspeech.compress.prune import PruneConfig, prune_model

    task = _needs_task("prune", task)
    _trainable("prune", model)
    try:
        config = PruneConfig(criterion=criterion, granularity=granularity, sparsities=(sparsity,),
                             step_fraction=step_fraction, finetune_steps=finetune_steps, lr=lr, exclude=tuple(exclude))
    except ValueError as err:
        raise StackError(f"prune: {err}") from None
    result = copy.deepcopy(model)
    prune_model(result, task.loss, task.batches(), config)
    shrink = getattr(result, "shrink_dead_channels", None)
    if granularity == "channel" and shrink is not None:
        shrink()
    return result.eval()


@STEPS.register("int8")
def int8_step(model: nn.Module, task: StackTask | None = None, calibration_batches: int = 8,
              observer: str = "histogram", seconds: float = 2.0) -> nn.Module:
    """Static int8 PTQ; calibrated on the task's training inputs, else on `seconds` of the model's example noise."""
    from leanspeech.compress.quantize import quantize_speech_model

    _trainable("int8", model)
    if not hasattr(model, "example_wav"):
        raise StackError(f"int8: {type(model).__name__} is not a SpeechModel (calibration needs its features)")
    if task is not None:
        batches = task.calibration(model, calibration_batches)
    else:
        batches = [model.features(model.example_wav(seconds, batch=2, seed=i)).detach() for i in range(calibration_batches)]
    try:
        return quantize_speech_model(model, batches, observer=observer)
    except Exception as err:  # FX tracing raises many types for code it cannot trace
        raise StackError(f"int8: {type(model).__name__} cannot be quantized ({type(err).__name__}: {err})") from None


def parse_step(step: dict[str, Any] | str, where: str = "step") -> tuple[str, dict[str, Any]]:
    """(name, arguments) of one stack entry: a name, or {name: ..., arguments}."""
    step = {"name": step} if isinstance(step, str) else dict(step)
    name = step.pop("name", None)
    if name not in STEPS:
        raise StackError(f"{where}: unknown step {name!r}; known: {', '.join(STEPS.names())}")
    accepted = list(inspect.signature(STEPS.get(name)).parameters)[2:]  # after (model, task)
    unknown = sorted(set(step) - set(accepted))
    if unknown:
        raise StackError(f"{where} ({name}): unknown argument(s) {unknown}; {name} takes {accepted}")
    return name, step


def apply_stack(model: nn.Module, steps: list[dict[str, Any] | str], task: StackTask | None = None) -> nn.Module:
    """`model` after every step in order (each a name or {name: ..., arguments}). Float results save and
    load with `save_model` (as "stacked" once a step changed their structure)."""
    for index, step in enumerate(steps):
        name, arguments = parse_step(step, f"steps.{index}")
        build: Callable[..., nn.Module] = STEPS.get(name)
        if name == "consolidate" and getattr(model, "registry_name", None) == "stacked":
            raise StackError(f"steps.{index}: consolidate must come before dgru, binarize and prune")
        result = build(model, task, **arguments)
        if name in STRUCTURAL or name == "prune":
            _record_structure(model, result, [{"name": name, **arguments}] if name in STRUCTURAL else [])
        model = result
    return model


# Steps that swap module types: replayed without data when a stacked model is rebuilt. Pruning only
# changes parameter shapes (removed channels), which the saved shapes restore.
STRUCTURAL = ("dgru", "binarize")


def _record_structure(before: nn.Module, after: nn.Module, new_steps: list[dict[str, Any]]) -> None:
    """Make `after` save as "stacked": its base (the last model `save_model` could rebuild by itself),
    the structural steps since, and every tensor's shape."""
    if getattr(before, "registry_name", None) == "stacked":
        config = before.get_config()
        base, base_config, steps = config["base"], config["base_config"], config["steps"]
    elif getattr(before, "registry_name", None):
        base, base_config, steps = before.registry_name, before.get_config(), []
    else:
        return  # not a registered model: nothing to rebuild from
    shapes = {key: list(value.shape) for key, value in after.state_dict().items()}
    after.registry_name = "stacked"
    after._config = {"base": base, "base_config": base_config, "steps": [*steps, *new_steps], "shapes": shapes}


def rebuild_stacked(model: nn.Module, base: str, base_config: dict[str, Any], steps: list[dict[str, Any]],
                    shapes: dict[str, list[int]]) -> nn.Module:
    """A freshly built base `model` given the structure of a saved stacked model (weights are loaded after)."""
    for step in steps:
        name, arguments = parse_step(step)
        if name not in STRUCTURAL:
            raise StackError(f"a stacked model records only {STRUCTURAL} steps, not {name!r}")
        model = STEPS.get(name)(model, None, **arguments)
    resize_tensors(model, shapes)
    model.registry_name = "stacked"
    model._config = {"base": base, "base_config": base_config, "steps": steps, "shapes": shapes}
    return model


def resize_tensors(model: nn.Module, shapes: dict[str, list[int]]) -> None:
    """Give every parameter and buffer named in `shapes` that shape (values are overwritten by the load),
    and keep the layers' size attributes (in/out channels, features) in step with their weights."""
    state = model.state_dict()
    for key, shape in shapes.items():
        if key not in state or list(state[key].shape) == list(shape):
            continue
        owner_name, _, attribute = key.rpartition(".")
        owner = model.get_submodule(owner_name) if owner_name else model
        fresh = torch.zeros(shape, dtype=state[key].dtype)
        if attribute in owner._parameters:
            setattr(owner, attribute, nn.Parameter(fresh, requires_grad=owner._parameters[attribute].requires_grad))
        else:
            owner._buffers[attribute] = fresh
    for module in model.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            module.out_channels, module.in_channels = module.weight.shape[0], module.weight.shape[1] * module.groups
        elif isinstance(module, nn.Linear):
            module.out_features, module.in_features = module.weight.shape
        elif isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
            module.num_features = len(module.running_mean)

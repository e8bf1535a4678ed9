"""One real forward pass with hooks: a per-layer cost table of any nn.Module or SpeechModel.

A module with a counting rule is counted whole and its children are not visited. A container is
visited (plus its extra rule, if it declares functional work). A leaf without a rule that is not on
the free list (Dropout, Identity, ...) is "unknown" when it runs: listed with its parameters, and the
profile is marked incomplete rather than counting it as zero; so is a container that ran while none of
its children did (it computed on its own, e.g. with weights a child only holds). A module that never
ran is "unused". Quantized outputs count at their own width (8 bits for quint8).
Arithmetic written as functions in a forward (torch.tanh(x), x + residual) is invisible to hooks:
layers declare it with an extra rule or an `extra_cost` method (see rules.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor, nn

from leanspeech.nn.attention import unfused_attention
from leanspeech.profile.params import weight_count
from leanspeech.profile.rules import LayerCost, extra_rule_for, is_free, rule_for
from leanspeech.profile.torch_rules import first_tensor

COUNTED, EXTRA, CONTAINER, FREE, UNKNOWN, UNUSED = "counted", "container+extra", "container", "free", "unknown", "unused"


@dataclass
class LayerRecord:
    name: str  # dotted path in the model ("" for the model itself)
    kind: str  # the module's class name
    depth: int
    status: str
    params: int  # parameters of the module and its children
    calls: int = 0
    macs: float = 0.0
    flops: float = 0.0
    binary_macs: float = 0.0
    activations: float = 0.0  # output elements summed over calls (whole batch)
    activation_bits: int | None = None
    effective_params: float | None = None  # set by a rule (a dynamic layer's live parameters)
    note: str = ""

    def add(self, cost: LayerCost, output: Any) -> None:
        self.calls += 1
        self.macs += cost.macs
        self.flops += cost.total_flops
        self.binary_macs += cost.binary_macs
        out = first_tensor(output)
        if cost.activations is not None:
            self.activations += cost.activations
        else:
            self.activations += out.numel() * (2 if out.is_complex() else 1)
        quantized_bits = out.element_size() * 8 if isinstance(out, Tensor) and out.is_quantized else None
        self.activation_bits = cost.activation_bits or quantized_bits or self.activation_bits
        if cost.params is not None:
            self.effective_params = cost.params
        if cost.note and cost.note not in self.note:
            self.note = f"{self.note}; {cost.note}" if self.note else cost.note

    @property
    def counts_cost(self) -> bool:
        return self.status in (COUNTED, EXTRA)


@dataclass
class CountResult:
    layers: list[LayerRecord]
    output: Any

    @property
    def complete(self) -> bool:
        return not any(r.status == UNKNOWN for r in self.layers)

    def total(self, attribute: str) -> float:
        return float(sum(getattr(r, attribute) for r in self.layers if r.counts_cost))

    def unknown(self) -> list[LayerRecord]:
        return [r for r in self.layers if r.status == UNKNOWN]


def plan(model: nn.Module) -> list[tuple[str, nn.Module, str, int]]:
    """(name, module, status, depth) in tree order, children of counted modules left out."""
    rows: list[tuple[str, nn.Module, str, int]] = []

    def visit(name: str, module: nn.Module, depth: int) -> None:
        children = list(module.named_children())
        if rule_for(module) is not None:
            rows.append((name, module, COUNTED, depth))
            return
        if is_free(module) and weight_count(module, recurse=False) == 0:
            rows.append((name, module, FREE, depth))
            return
        if not children or weight_count(module, recurse=False):
            # a leaf that computes with no rule, or a container using its own parameters in forward
            status = UNKNOWN
        else:
            status = EXTRA if extra_rule_for(module) is not None else CONTAINER
        rows.append((name, module, status, depth))
        for child_name, child in children:
            visit(f"{name}.{child_name}" if name else child_name, child, depth + 1)

    visit("", model, 0)
    return rows


def count(model: nn.Module, run: Callable[[], Any]) -> CountResult:
    """Run `run()` (one forward of `model`) under hooks and return the per-layer costs."""
    records: list[LayerRecord] = []
    handles = []
    for name, module, status, depth in plan(model):
        params = weight_count(module)
        record = LayerRecord(name or type(model).__name__, type(module).__name__, depth, status, params)
        records.append(record)
        rule = rule_for(module) if status == COUNTED else extra_rule_for(module) if status == EXTRA else None
        handles.append(module.register_forward_hook(_hook(record, rule), with_kwargs=True))
    try:
        with torch.no_grad(), unfused_attention():
            output = run()
    finally:
        for handle in handles:
            handle.remove()
    for index, record in enumerate(records):
        if record.status == CONTAINER and record.calls and not _any_child_ran(records, index):
            record.status = UNKNOWN
    for record in records:
        if record.status in (COUNTED, UNKNOWN) and record.calls == 0:
            record.status = UNUSED  # never ran in this forward (an inference-only branch, a spare head)
    return CountResult(records, output)


def _any_child_ran(records: list[LayerRecord], index: int) -> bool:
    """Whether a record of the subtree below `records[index]` (tree order, by depth) ran."""
    depth = records[index].depth
    for record in records[index + 1:]:
        if record.depth <= depth:
            return False
        if record.calls:
            return True
    return False


def _hook(record: LayerRecord, rule: Callable | None) -> Callable:
    def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
        if rule is None:  # containers, free and unknown modules: only note that they ran
            record.calls += 1
            return
        inputs = (*args, *(v for v in kwargs.values() if isinstance(v, Tensor)))
        try:
            cost = rule(module, inputs, output)
        except Exception as err:
            raise RuntimeError(f"counting rule of {record.name} ({record.kind}) failed: {err}") from err
        record.add(cost, output)

    return hook

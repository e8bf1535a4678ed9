"""Validation metrics by name, computed over a whole epoch (torchmetrics keeps them right under DDP)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torchmetrics
from torch import Tensor, nn
from torchmetrics import classification, regression

from leanspeech.registry import Registry


@dataclass(frozen=True)
class MetricSpec:
    factory: Callable[[], torchmetrics.Metric]
    binary: bool  # binary metrics see probabilities and 0/1 targets; the others see raw values
    mode: str  # "max" when higher is better, for monitoring


METRICS: Registry = Registry("metric")
for _name, _spec in {
    "mse": MetricSpec(regression.MeanSquaredError, binary=False, mode="min"),
    "mae": MetricSpec(regression.MeanAbsoluteError, binary=False, mode="min"),
    "pcc": MetricSpec(regression.PearsonCorrCoef, binary=False, mode="max"),
    "srcc": MetricSpec(regression.SpearmanCorrCoef, binary=False, mode="max"),
    "accuracy": MetricSpec(classification.BinaryAccuracy, binary=True, mode="max"),
    "f1": MetricSpec(classification.BinaryF1Score, binary=True, mode="max"),
    "auroc": MetricSpec(classification.BinaryAUROC, binary=True, mode="max"),
    "eer": MetricSpec(classification.BinaryEER, binary=True, mode="min"),
}.items():
    METRICS.register(_name)(_spec)


class TaskMetrics(nn.Module):
    """The recipe's `task.metrics`, fed (output, target) batches and read once per epoch."""

    def __init__(self, names: list[str], outputs_logits: bool):
        super().__init__()
        self.specs = {name: METRICS.get(name) for name in names}
        self.metrics = nn.ModuleDict({name: spec.factory() for name, spec in self.specs.items()})
        self.outputs_logits = outputs_logits

    def update(self, output: Tensor, target: Tensor) -> None:
        values, target = output.detach().flatten().float(), target.detach().flatten()
        probabilities = torch.sigmoid(values) if self.outputs_logits else values
        for name, metric in self.metrics.items():
            if self.specs[name].binary:
                metric.update(probabilities, (target > 0.5).long())
            else:
                metric.update(values, target.float())

    def compute(self) -> dict[str, Tensor]:
        return {name: metric.compute() for name, metric in self.metrics.items()}

    def reset(self) -> None:
        for metric in self.metrics.values():
            metric.reset()

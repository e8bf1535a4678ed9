"""The task-agnostic LightningModule: any registered model, loss and metrics, named by a recipe."""

from __future__ import annotations

from typing import Any

import lightning as L
from torch import Tensor

from leanspeech.errors import LeanspeechError
from leanspeech.models.base import SpeechModel
from leanspeech.train.hooks import ExtraLoss
from leanspeech.train.losses import LOGIT_LOSSES, LOSSES
from leanspeech.train.metrics import TaskMetrics
from leanspeech.train.optim import build_optimizer, build_scheduler, model_parameter_groups


def batch_item(batch: Any, key: str | int, role: str) -> Tensor:
    """`batch[key]` for dict or tuple batches, with an error that names the recipe key at fault."""
    try:
        return batch[key]
    except (KeyError, IndexError, TypeError):
        have = list(batch) if isinstance(batch, dict) else f"a {type(batch).__name__} of {len(batch)} items"
        raise LeanspeechError(f"task.{role}: the batch has no item {key!r}; it has {have}") from None


def match_target(output: Tensor, target: Tensor) -> Tensor:
    """The output in the target's shape: only a trailing singleton axis (B, 1) → (B,) is dropped."""
    if output.shape != target.shape and output.dim() == target.dim() + 1 and output.shape[-1] == 1:
        output = output.squeeze(-1)
    if output.shape != target.shape:
        raise LeanspeechError(
            f"model output of shape {tuple(output.shape)} does not match the target's {tuple(target.shape)}"
        )
    return output


class TaskModule(L.LightningModule):
    """Trains `model` on the recipe's `task`; `extra_losses` are added to the training loss."""

    def __init__(
        self,
        model: SpeechModel,
        task: dict[str, Any],
        optim: dict[str, Any],
        scheduler: dict[str, Any],
        extra_losses: dict[str, ExtraLoss] | None = None,
    ):
        super().__init__()
        self.model = model
        self.task, self.optim, self.scheduler = task, optim, scheduler
        loss = dict(task["loss"])
        self.loss_fn = LOSSES.build(loss.pop("name"), **loss)
        self.metrics = TaskMetrics(task["metrics"], outputs_logits=task["loss"]["name"] in LOGIT_LOSSES)
        self.extra_losses: dict[str, ExtraLoss] = dict(extra_losses or {})

    def predict(self, batch: Any) -> tuple[Tensor, Tensor]:
        inputs = batch_item(batch, self.task["input"], "input")
        target = batch_item(batch, self.task["target"], "target")
        output = self.model.forward_wav(inputs) if self.task["input_is_wav"] else self.model(inputs)
        output = match_target(output, target)
        return output, target.to(output.dtype)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        output, target = self.predict(batch)
        task_loss = self.loss_fn(output, target)
        loss = task_loss
        for name, term_fn in self.extra_losses.items():
            term = term_fn(self.model, self.global_step)
            self.log(f"train/extra/{name}", term, batch_size=len(target))
            loss = loss + term
        self.log("train/task_loss", task_loss, batch_size=len(target))
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(target))
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        output, target = self.predict(batch)
        loss = self.loss_fn(output, target)
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=len(target))
        self.metrics.update(output, target)

    def on_validation_epoch_end(self) -> None:
        for name, value in self.metrics.compute().items():  # torchmetrics already syncs across processes
            self.log(f"val/{name}", value)
        self.metrics.reset()

    def configure_optimizers(self) -> Any:
        optimizer = build_optimizer(model_parameter_groups(self.model, self.optim.get("weight_decay", 0.0)), self.optim)
        scheduler = build_scheduler(optimizer, self.scheduler)
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

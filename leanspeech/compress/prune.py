"""Iterative pruning with fine-tuning (distill-prune-sqa.md §IV-C, §V-B) on `torch.nn.utils.prune` masks.

`prune_model(model, loss_fn, batches)` repeats: fine-tune `finetune_steps` steps (AdamW, lr 2e-5) while
a gradient criterion's scores are averaged (smoothing 0.9) → remove `step_fraction` (0.5 %) of the
prunable weights with the lowest scores. At each requested sparsity it saves a checkpoint with the
masks baked in (zeros), and after every cycle a resume state, so an interrupted run continues where it
stopped. Scores come from compress/importance.py; this file only selects, masks and shrinks.

- Scope "global" ranks all prunable weights together (the paper's Taylor pruning); "layer" removes the
  fraction from each weight matrix separately (its magnitude baseline). Default: global for Taylor,
  layer for magnitude.
- Granularity "channel" prunes whole output channels (filter + bias) instead of single weights, and
  sparsity then counts channels; `shrink_conv_chain` afterwards removes them for real, so the smaller
  model also runs faster. Weight sparsity saves storage (sparse count: a kept weight counts 1.5, see
  `leanspeech.profile.params`), not time on dense kernels.
- Prunable: Linear and Conv weights (attention output projections included) and attention input
  projections, except under `exclude` prefixes (e.g. a prediction head) and parametrised modules.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize, prune
from tqdm import tqdm

from leanspeech.compress.importance import CRITERIA, GRADIENT_CRITERIA, SmoothedImportance, channel_importance
from leanspeech.errors import LeanspeechError
from leanspeech.models.base import SpeechModel
from leanspeech.models.io import save_model
from leanspeech.profile.params import count_parameters
from leanspeech.registry import MODELS

STATE_FILE = "prune_state.pt"
Target = tuple[str, nn.Module, str]  # (qualified parameter name, module, parameter name)


@dataclass
class PruneConfig:
    criterion: str = "taylor"
    step_fraction: float = 0.005
    finetune_steps: int = 30
    lr: float = 2e-5
    smoothing: float = 0.9
    sparsities: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7)
    scope: str | None = None  # "global" | "layer"; None: global for taylor, layer for magnitude
    granularity: str = "weight"  # "weight" | "channel"
    exclude: tuple[str, ...] = ()  # parameter-name prefixes left dense

    def __post_init__(self) -> None:
        if self.criterion not in CRITERIA:
            raise ValueError(f"unknown criterion {self.criterion!r}; known: {', '.join(CRITERIA)}")
        self.scope = self.scope or ("global" if self.criterion in GRADIENT_CRITERIA else "layer")
        if self.scope not in ("global", "layer") or self.granularity not in ("weight", "channel"):
            raise ValueError(f"scope must be global/layer and granularity weight/channel, got {self.scope}, {self.granularity}")
        if not 0.0 < self.step_fraction <= 1.0 or not all(0.0 < s < 1.0 for s in self.sparsities):
            raise ValueError("step_fraction must be in (0, 1] and every sparsity in (0, 1)")
        self.sparsities = tuple(sorted(self.sparsities))


@dataclass
class PrunePoint:
    sparsity: float  # fraction of prunable weights (or channels) removed
    path: Path | None
    loss: float  # mean fine-tuning loss of the last cycle before the checkpoint
    sparse_params: float  # whole model, a kept weight of a pruned tensor counts 1.5
    dense_params: int


def prunable_weights(model: nn.Module, exclude: Sequence[str] = (), granularity: str = "weight") -> list[Target]:
    targets = []
    for prefix, module in model.named_modules():
        if parametrize.is_parametrized(module):
            continue
        names = ["weight"] if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)) else []
        if granularity == "weight" and isinstance(module, nn.MultiheadAttention) and module._qkv_same_embed_dim:
            names = ["in_proj_weight"]
        if granularity == "channel" and not isinstance(module, (nn.Conv1d, nn.Conv2d)):
            names = []
        for name in names:
            qualified = f"{prefix}.{name}" if prefix else name
            if not any(qualified.startswith(p) for p in exclude):
                targets.append((qualified, module, name))
    if not targets:
        raise LeanspeechError(f"{type(model).__name__} has no prunable {granularity} tensors outside {list(exclude)}")
    return targets


def install_masks(targets: Sequence[Target], with_bias: bool = False) -> None:
    """All-ones pruning masks on every target (kept if one exists); `with_bias` masks biases too."""
    for _, module, name in targets:
        names = [name] + (["bias"] if with_bias and getattr(module, "bias", None) is not None else [])
        for n in names:
            if not hasattr(module, f"{n}_mask"):
                prune.identity(module, n)


def refresh_weights(targets: Sequence[Target]) -> None:
    """Recompute `weight = weight_orig · weight_mask`. Modules whose forward a parent bypasses (an
    attention's out_proj is read, not called) never run their pruning hook, so training calls this."""
    for _, module, name in targets:
        for n in (name, "bias"):
            if hasattr(module, f"{n}_mask"):
                setattr(module, n, getattr(module, f"{n}_orig") * getattr(module, f"{n}_mask"))


def remove_masks(model: nn.Module) -> None:
    """Bake every pruning mask into its weight (zeros) and drop the reparametrisation."""
    for module in model.modules():
        for hook in list(module._forward_pre_hooks.values()):
            if isinstance(hook, prune.BasePruningMethod):
                prune.remove(module, hook._tensor_name)


def merge_masks(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """A state dict with `x_orig` / `x_mask` pairs → plain `x = x_orig · x_mask` (loads into the unpruned model)."""
    merged = {}
    for key, value in state.items():
        if key.endswith("_mask"):
            continue
        if key.endswith("_orig"):
            base = key[: -len("_orig")]
            merged[base] = value * state[f"{base}_mask"]
        else:
            merged[key] = value
    return merged


def unit_scores(scores: Tensor, granularity: str) -> Tensor:
    return scores.flatten() if granularity == "weight" else channel_importance(scores)


def unit_mask(module: nn.Module, name: str, granularity: str) -> Tensor:
    mask = getattr(module, f"{name}_mask")
    return mask.flatten() if granularity == "weight" else mask.reshape(mask.shape[0], -1)[:, 0]


def lowest_unit_masks(scores: Sequence[Tensor], masks: Sequence[Tensor], amounts: Sequence[int] | int) -> list[Tensor]:
    """New flat keep-masks with more units removed: the lowest scores among kept units.

    `amounts` per tensor ranks each tensor alone; one int ranks all tensors together."""
    scores = [torch.where(m.bool(), s, torch.full_like(s, math.inf)) for s, m in zip(scores, masks)]
    if isinstance(amounts, int):
        flat = torch.cat(scores)
        removed = torch.zeros_like(flat, dtype=torch.bool)
        removed[torch.topk(flat, min(amounts, int(torch.isfinite(flat).sum())), largest=False).indices] = True
        parts = removed.split([len(s) for s in scores])
    else:
        parts = []
        for s, amount in zip(scores, amounts):
            part = torch.zeros_like(s, dtype=torch.bool)
            part[torch.topk(s, min(amount, int(torch.isfinite(s).sum())), largest=False).indices] = True
            parts.append(part)
    return [m * (~p).to(m.dtype) for m, p in zip(masks, parts)]


def set_unit_masks(targets: Sequence[Target], masks: Sequence[Tensor], granularity: str) -> None:
    for (_, module, name), flat in zip(targets, masks):
        weight_mask = getattr(module, f"{name}_mask")
        if granularity == "weight":
            weight_mask.copy_(flat.view_as(weight_mask))
            continue
        weight_mask.copy_(flat.view(-1, *[1] * (weight_mask.dim() - 1)).expand_as(weight_mask))
        if hasattr(module, "bias_mask"):
            module.bias_mask.copy_(flat)


def _endless(batches: Iterable[Any]) -> Iterator[Any]:
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise LeanspeechError("pruning needs at least one fine-tuning batch")


def _save_checkpoint(model: nn.Module, directory: Path, sparsity: float) -> Path:
    path = directory / f"sparsity-{sparsity:.3f}.pt"
    state = merge_masks(model.state_dict())
    if isinstance(model, SpeechModel) and model.registry_name:
        copy = MODELS.build(model.registry_name, **model.get_config())
        copy.load_state_dict(state)
        return save_model(copy, path)
    torch.save({"sparsity": sparsity, "state_dict": state}, path)
    return path


def load_checkpoint_state(path: str | Path) -> dict[str, Tensor]:
    """The weights of a checkpoint `prune_model` saved for a model that is not a registered SpeechModel
    (a registered one is saved with `save_model`: read it with `load_model`)."""
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def prune_model(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, Any], Tensor],
    batches: Iterable[Any],
    config: PruneConfig | None = None,
    out_dir: str | Path | None = None,
    progress: bool = True,
) -> list[PrunePoint]:
    """Prune `model` in place to each of `config.sparsities`, fine-tuning on `batches` (re-iterated
    as needed) with `loss_fn(model, batch)`. With `out_dir`, saves a checkpoint per sparsity and
    resumes from its state file. Returns one PrunePoint per sparsity; the model ends with its masks
    baked in (pruned weights are zeros)."""
    config = config or PruneConfig()
    targets = prunable_weights(model, config.exclude, config.granularity)
    channel = config.granularity == "channel"
    install_masks(targets, with_bias=channel)
    criterion = CRITERIA[config.criterion]
    importance = SmoothedImportance([(m, n) for _, m, n in targets], criterion, config.smoothing)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    units = [len(unit_mask(m, n, config.granularity)) for _, m, n in targets]
    total = sum(units)
    directory = Path(out_dir) if out_dir is not None else None
    points: list[PrunePoint] = []
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        if (directory / STATE_FILE).is_file():
            state = torch.load(directory / STATE_FILE, map_location="cpu", weights_only=True)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            importance.load_state_dict(state["importance"])
            points = [PrunePoint(p["sparsity"], Path(p["path"]) if p["path"] else None, p["loss"],
                                 p["sparse_params"], int(p["dense_params"])) for p in state["points"]]
    pending = [s for s in config.sparsities if all(abs(p.sparsity - s) > 1e-9 for p in points)]
    data = _endless(batches)
    step_units = max(1, math.ceil(config.step_fraction * total))
    was_training = model.training
    model.train()

    def removed() -> int:
        return total - sum(int(unit_mask(m, n, config.granularity).sum()) for _, m, n in targets)

    with tqdm(total=round(max(config.sparsities) * total), initial=removed(), desc="pruning",
              unit="ch" if channel else "w", disable=not progress) as bar:
        while pending:
            losses = []
            for _ in range(config.finetune_steps):
                refresh_weights(targets)
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model, next(data))
                loss.backward()
                if config.criterion in GRADIENT_CRITERIA:
                    importance.update()
                optimizer.step()
                losses.append(float(loss.detach()))
            done = removed()
            if done >= round(pending[0] * total):
                sparsity = pending.pop(0)
                refresh_weights(targets)
                path = _save_checkpoint(model, directory, sparsity) if directory is not None else None
                params = count_parameters(model)
                points.append(PrunePoint(sparsity, path, sum(losses) / max(1, len(losses)), params.sparse, params.dense))
            if pending:
                if config.criterion not in GRADIENT_CRITERIA:
                    importance.scores = None
                    importance.update()
                if importance.scores is None:
                    raise LeanspeechError("a gradient criterion needs finetune_steps ≥ 1 to collect scores")
                amount = max(0, min(step_units, round(pending[0] * total) - done))
                scores = [unit_scores(s, config.granularity) for s in importance.scores]
                masks = [unit_mask(m, n, config.granularity) for _, m, n in targets]
                if config.scope == "global":
                    new = lowest_unit_masks(scores, masks, amount)
                else:  # each tensor to the whole model's new share: a per-tensor share of the step, rounded
                    # up, would take a small tensor's last weights long before the model reached its target
                    share = (done + amount) / total
                    new = lowest_unit_masks(scores, masks, [max(0, math.ceil(share * u) - (u - int(m.sum())))
                                                            for u, m in zip(units, masks)])
                with torch.no_grad():
                    set_unit_masks(targets, new, config.granularity)
                bar.update(removed() - done)
            if directory is not None:
                _atomic_save({
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "importance": importance.state_dict(),
                    "points": [{"sparsity": p.sparsity, "path": str(p.path) if p.path else "", "loss": p.loss,
                                "sparse_params": p.sparse_params, "dense_params": p.dense_params} for p in points],
                }, directory / STATE_FILE)
    refresh_weights(targets)
    remove_masks(model)
    model.train(was_training)
    return points


def shrink_conv_chain(convs: Sequence[nn.Conv1d | nn.Conv2d], followers: Sequence[nn.Module] = ()) -> list[Tensor]:
    """Remove for real the output channels whose filter and bias are all zero (after channel pruning)
    from each conv of a chain, and the matching input channels of the next conv. Exact when the layers
    between convs map 0 to 0 (ReLU, LeakyReLU), so a dead channel only ever carries zeros.

    The last conv's output is read, flattened channel-major, by `followers`: BatchNorm1d layers, then
    one Linear. Their features of dead channels are dropped; those features are constants in eval mode
    (the BatchNorms' image of 0), so their contribution moves into the Linear's bias. Returns the kept
    channel indices of each conv."""
    for module in (*convs, *followers):
        remove_masks(module)
    kept: list[Tensor] = []
    previous: Tensor | None = None
    for conv in convs:
        if conv.groups != 1:
            raise LeanspeechError(f"shrink_conv_chain handles ungrouped convolutions, got groups={conv.groups}")
        with torch.no_grad():
            weight = conv.weight if previous is None else conv.weight[:, previous]
            alive = weight.reshape(weight.shape[0], -1).abs().sum(1) > 0
            if conv.bias is not None:
                alive |= conv.bias != 0
            keep = alive.nonzero().flatten() if alive.any() else torch.zeros(1, dtype=torch.long)
            original_channels = conv.out_channels
            conv.weight = nn.Parameter(weight[keep].clone())
            if conv.bias is not None:
                conv.bias = nn.Parameter(conv.bias[keep].clone())
        conv.in_channels, conv.out_channels = conv.weight.shape[1], len(keep)
        kept.append(keep)
        previous = keep
    if followers:
        _shrink_followers(followers, kept[-1], original_channels)
    return kept


def _shrink_followers(followers: Sequence[nn.Module], keep_channels: Tensor, channels: int) -> None:
    *norms, linear = followers
    if not isinstance(linear, nn.Linear) or not all(isinstance(n, nn.BatchNorm1d) for n in norms):
        raise LeanspeechError("followers of a conv chain must be BatchNorm1d layers, then one Linear")
    if linear.in_features % channels:
        raise LeanspeechError(f"{linear.in_features} features do not split into {channels} channels")
    per_channel = linear.in_features // channels
    keep = (keep_channels[:, None] * per_channel + torch.arange(per_channel)).flatten()
    dropped = torch.ones(linear.in_features, dtype=torch.bool)
    dropped[keep] = False
    with torch.no_grad():
        constant = torch.zeros(1, linear.in_features)
        for norm in norms:  # eval-mode image of a zero input
            constant = nn.functional.batch_norm(
                constant, norm.running_mean, norm.running_var, norm.weight, norm.bias, False, 0.0, norm.eps
            )
        if linear.bias is None:
            linear.bias = nn.Parameter(torch.zeros(linear.out_features))
        linear.bias += linear.weight[:, dropped] @ constant[0, dropped]
        linear.weight = nn.Parameter(linear.weight[:, keep].clone())
        for norm in norms:
            for name in ("weight", "bias"):
                if getattr(norm, name) is not None:
                    setattr(norm, name, nn.Parameter(getattr(norm, name)[keep].clone()))
            norm.running_mean = norm.running_mean[keep].clone()
            norm.running_var = norm.running_var[keep].clone()
            norm.num_features = len(keep)
    linear.in_features = len(keep)

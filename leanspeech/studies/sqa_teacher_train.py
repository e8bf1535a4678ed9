"""XLS-R-SQA trained on labeled MOS data (distill-prune-sqa.md §IV-A): the teacher `study sqa` distils.

The wav2vec2 / XLS-R embedding model is not trained (the paper's), so layer L's centre-cropped frames of
every clip are computed once and cached in `features/` (float16; for XLS-R 2B about 1.5 MB a clip); the
head alone then trains on them: batches of `batch_size` clips drawn with `capped_weights` (a dataset
above `dataset_cap` clips is drawn as if it had that many), MSE between 1 + 4·sigmoid(a_k·z + b_k) and
the clip's MOS, with the learnable scale a_k and shift b_k of the clip's dataset k (bias-aware), AdamW.
Every `val_every` steps the dev clips are scored with their own dataset's pair; the kept head has the
lowest weighted dev MSE (each dataset weighted by min(clips, dataset_cap), as in sampling). The
universal pair is then grid-searched on the pooled dev clips and the test clips are scored with it.

With `prune_sparsities`, the trained teacher's embedding model is then pruned into a family as the
paper's XLS-R-PruneMOS (§IV-C; `XlsrSqaTeacher.prune_embedding`: Taylor importance, fine-tuning on the
labeled train clips between steps); each pruned teacher is saved whole (`pruned/teacher-<percent>.pt`).

Labeled clips come from manifests (`leanspeech.data.manifest`, e.g. written by the `table` reader from a
CSV of path, mos): the label column `label_column`, the dataset the `dataset` column or else the
manifest's `source`, train / dev / test the `split`. A clip that cannot be read is logged, listed in
`failures.jsonl` and left out. A killed run continues from its last validation (`progress.pt`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from leanspeech.audio.io import load_audio
from leanspeech.compress.prune import PruneConfig, load_checkpoint_state
from leanspeech.compress.teachers import TEACHER_RATE, XLSR_FRAMES, XlsrSqaTeacher, logits_to_mos
from leanspeech.data.manifest import read_manifest
from leanspeech.errors import CorpusError, LeanspeechError
from leanspeech.metrics import pcc
from leanspeech.report.figure import saved_figure
from leanspeech.studies.recipe import read_recipe, section
from leanspeech.studies.runs import check_same_record
from leanspeech.studies.sqa_teacher_prune import centre_crops
from leanspeech.studies.sqa_train import capped_weights
from leanspeech.train.progress import load_progress, save_progress

log = logging.getLogger(__name__)


@dataclass
class XlsrTeacherTraining:
    """The paper's XLS-R(2B)-L10+T(BA) settings by default (§IV-A)."""

    wav2vec2: str = ""  # local directory of a wav2vec2 / XLS-R model saved by transformers (required)
    layer: int = 10
    frames: int = XLSR_FRAMES  # centre crop of layer `layer`'s 20 ms frames (7.68 s)
    steps: int = 72_000
    batch_size: int = 12
    lr: float = 1e-4
    weight_decay: float = 0.01
    val_every: int = 3000
    dataset_cap: int = 7000
    label_column: str = "mos"
    # XLS-R-PruneMOS (§IV-C): the embedding model pruned to each sparsity after training (empty: not pruned)
    prune_sparsities: tuple[float, ...] = ()
    prune_criterion: str = "taylor"
    prune_step_fraction: float = 0.005
    prune_finetune_steps: int = 30
    prune_lr: float = 2e-5
    prune_batch_size: int = 20  # the paper's batch for pruning
    device: str = "cpu"  # where the embedding model computes the frames ("cuda" for XLS-R 2B); the small head trains on CPU
    seed: int = 0

    def __post_init__(self) -> None:
        self.prune_sparsities = tuple(self.prune_sparsities)

    @classmethod
    def from_yaml(cls, path: str | Path) -> XlsrTeacherTraining:
        return section(cls, read_recipe(path), str(path))


@dataclass
class MosClips:
    paths: list[str]
    mos: Tensor
    datasets: list[str]

    def __len__(self) -> int:
        return len(self.paths)

    def keep(self, wanted: set[str]) -> MosClips:
        index = [i for i, p in enumerate(self.paths) if p in wanted]
        return MosClips([self.paths[i] for i in index], self.mos[index], [self.datasets[i] for i in index])


def read_mos_manifests(manifests: Sequence[str | Path], label_column: str = "mos") -> dict[str, MosClips]:
    """The labeled clips of each split ("train", "dev", "test") of the manifests; a row without a numeric
    label is an error naming the manifest and the clip."""
    rows: dict[str, tuple[list[str], list[float], list[str]]] = {s: ([], [], []) for s in ("train", "dev", "test")}
    for manifest in manifests:
        manifest = Path(manifest)
        for entry in read_manifest(manifest):
            try:
                mos = float(entry.extra[label_column])
            except (KeyError, ValueError):
                raise CorpusError(f"{manifest}: {entry.path} has no numeric {label_column!r} label") from None
            if not math.isfinite(mos):
                raise CorpusError(f"{manifest}: {entry.path} has label {mos}")
            paths, labels, datasets = rows[entry.split]
            paths.append(str(entry.resolve(manifest.parent)))
            labels.append(mos)
            datasets.append(entry.extra.get("dataset") or entry.source)
    return {split: MosClips(p, torch.tensor(m, dtype=torch.float32), d) for split, (p, m, d) in rows.items()}


class FrameCache:
    """Layer-L frames of each clip, computed once by the frozen embedding model (on `device`) and kept on disk."""

    def __init__(self, teacher: XlsrSqaTeacher, folder: Path, device: str = "cpu"):
        self.teacher, self.folder, self.device = teacher, folder, device
        folder.mkdir(parents=True, exist_ok=True)

    def file(self, path: str) -> Path:
        return self.folder / f"{hashlib.sha1(path.encode()).hexdigest()[:20]}.pt"

    @torch.no_grad()
    def fill(self, splits: dict[str, MosClips]) -> dict[str, str]:
        """Computes what is not cached yet; returns {clip: problem} for clips that could not be read."""
        self.teacher.embedding.to(self.device).eval()
        failures = {}
        for split, clips in splits.items():
            for path in tqdm(clips.paths, desc=f"frames of layer {self.teacher.layer} ({split})", unit="clip"):
                target = self.file(path)
                if target.exists():
                    continue
                try:
                    wav, _ = load_audio(path, sample_rate=TEACHER_RATE)
                except Exception as err:  # noqa: BLE001  (a bad file is reported and skipped)
                    log.warning("%s: cannot be read: %s; skipped", path, err)
                    failures[path] = f"{type(err).__name__}: {err}"
                    continue
                frames = self.teacher.features(torch.from_numpy(wav)[None].to(self.device))[0]
                partial = target.with_suffix(".partial")
                torch.save(frames.half().cpu(), partial)
                partial.replace(target)
        self.teacher.embedding.to("cpu")
        return failures

    def load(self, paths: Sequence[str]) -> Tensor:
        return torch.stack([torch.load(self.file(p), weights_only=True) for p in paths]).float()


def weighted_mse(errors: Tensor, datasets: list[str], cap: int) -> tuple[float, dict[str, float]]:
    """The mean squared error of each dataset, and their mean weighted by min(clips, cap)."""
    per_dataset, weights = {}, {}
    for name in sorted(set(datasets)):
        mask = torch.tensor([d == name for d in datasets])
        per_dataset[name], weights[name] = float(errors[mask].mean()), min(int(mask.sum()), cap)
    return sum(weights[n] * per_dataset[n] for n in per_dataset) / sum(weights.values()), per_dataset


class XlsrHeadTrainer:
    """The loop of §IV-A on cached frames; `run(progress)` → (teacher with the kept head, metrics)."""

    def __init__(self, teacher: XlsrSqaTeacher, cache: FrameCache, train: MosClips, dev: MosClips,
                 settings: XlsrTeacherTraining):
        self.teacher, self.cache, self.train, self.dev, self.settings = teacher, cache, train, dev, settings
        self.trainable = nn.ModuleDict({"head": teacher.head, "dataset_bias": teacher.dataset_bias})

    @torch.no_grad()
    def raw_logits(self, clips: MosClips) -> Tensor:
        """Unscaled logits of every clip (eval mode), in batches."""
        self.trainable.eval()
        step = self.settings.batch_size
        return torch.cat([self.teacher.head.logits(self.cache.load(clips.paths[i:i + step]))
                          for i in range(0, len(clips), step)])

    def validate(self) -> dict[str, float]:
        errors = (own_bias_mos(self.teacher, self.raw_logits(self.dev), self.dev.datasets) - self.dev.mos).pow(2)
        mean, per_dataset = weighted_mse(errors, self.dev.datasets, self.settings.dataset_cap)
        return {"dev_mse": mean, **{f"dev_mse/{name}": value for name, value in per_dataset.items()}}

    def run(self, progress: Path) -> tuple[XlsrSqaTeacher, dict[str, Any]]:
        s = self.settings
        torch.manual_seed(s.seed)
        optimizer = torch.optim.AdamW(self.trainable.parameters(), lr=s.lr, weight_decay=s.weight_decay)
        generator = torch.Generator().manual_seed(s.seed)
        weights = capped_weights(self.train.datasets, s.dataset_cap)
        best, best_state, kept, history, losses, done, spent = math.inf, None, None, [], [], 0, 0.0
        if progress.exists():
            done, state = load_progress(progress, self.trainable, optimizer)
            generator.set_state(state["generator"])
            best, best_state, kept, history, spent = (state[k] for k in ("best", "best_state", "kept", "history", "seconds"))
        started = time.monotonic() - spent
        bar = tqdm(range(done + 1, s.steps + 1), desc="training the XLS-R-SQA head", unit="step", initial=done,
                   total=s.steps)
        for step in bar:
            self.trainable.train()
            batch = torch.multinomial(weights, s.batch_size, replacement=True, generator=generator).tolist()
            frames = self.cache.load([self.train.paths[i] for i in batch])
            dataset = self.teacher.dataset_index([self.train.datasets[i] for i in batch])
            loss = F.mse_loss(logits_to_mos(self.teacher.frame_logits(frames, dataset)), self.train.mos[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if step % s.val_every == 0 or step == s.steps:
                history.append({"step": step, "train_mse": sum(losses) / len(losses), **self.validate()})
                losses = []
                bar.set_postfix(dev_mse=f"{history[-1]['dev_mse']:.3f}")
                if kept is None or history[-1]["dev_mse"] < best:
                    best, best_state, kept = history[-1]["dev_mse"], copy.deepcopy(self.trainable.state_dict()), history[-1]
                save_progress(progress, step, self.trainable, optimizer, generator=generator.get_state(), best=best,
                              best_state=best_state, kept=kept, history=history, seconds=time.monotonic() - started)
        self.trainable.load_state_dict(best_state)
        return self.teacher, {"best_step": kept["step"], "dev_mse": kept["dev_mse"], "history": history,
                              "train_seconds": time.monotonic() - started}


@torch.no_grad()
def own_bias_mos(teacher: XlsrSqaTeacher, raw: Tensor, datasets: list[str]) -> Tensor:
    """MOS from unscaled logits with each clip's own dataset scale and shift."""
    return logits_to_mos(teacher.dataset_bias(raw, teacher.dataset_index(datasets)))


@torch.no_grad()
def audio_logits(teacher: XlsrSqaTeacher, clips: MosClips) -> Tensor:
    """Unscaled logits of every clip, each read whole and run through the embedding model (no cache)."""
    teacher.eval()
    wavs = (torch.from_numpy(load_audio(path, sample_rate=TEACHER_RATE)[0])[None] for path in clips.paths)
    return torch.cat([teacher.head.logits(teacher.features(wav)) for wav in wavs])


def evaluate(teacher: XlsrSqaTeacher, raw: Tensor, clips: MosClips) -> list[dict[str, Any]]:
    """PCC and MSE per dataset of `clips` from their unscaled logits `raw`, with the universal pair (and
    with the dataset's own pair when it was trained on)."""
    universal = logits_to_mos(teacher.universal[0] * raw + teacher.universal[1])
    rows = []
    for name in sorted(set(clips.datasets)):
        mask = torch.tensor([d == name for d in clips.datasets])
        row = {"dataset": name, "clips": int(mask.sum()), "pcc": pcc(universal[mask].numpy(), clips.mos[mask].numpy()),
               "mse": float((universal[mask] - clips.mos[mask]).pow(2).mean())}
        if name in teacher.datasets:
            own = own_bias_mos(teacher, raw[mask], [name] * row["clips"])
            row["mse_own_bias"] = float((own - clips.mos[mask]).pow(2).mean())
        rows.append(row)
    return rows


def labeled_crops(teacher: XlsrSqaTeacher, clips: MosClips, settings: XlsrTeacherTraining) -> Iterator[tuple[Tensor, ...]]:
    """Endless (centre-cropped waveforms, dataset indices, MOS) batches for fine-tuning the embedding model,
    drawn as in training (capped weights)."""
    weights = capped_weights(clips.datasets, settings.dataset_cap)
    generator = torch.Generator().manual_seed(settings.seed)
    length = teacher.crop_samples()
    while True:
        batch = torch.multinomial(weights, settings.prune_batch_size, replacement=True, generator=generator).tolist()
        wavs = centre_crops([load_audio(clips.paths[i], sample_rate=TEACHER_RATE)[0] for i in batch], length)
        yield wavs, teacher.dataset_index([clips.datasets[i] for i in batch]), clips.mos[batch]


def prune_teacher_family(teacher_file: Path, splits: dict[str, MosClips], settings: XlsrTeacherTraining,
                         out: Path) -> list[dict[str, Any]]:
    """XLS-R-PruneMOS (§IV-C): the trained teacher's embedding model pruned to each `prune_sparsities`,
    fine-tuned on the labeled train clips between steps (`XlsrSqaTeacher.prune_embedding`); each pruned
    teacher gets its universal pair grid-searched on the dev clips again, is saved whole as
    `teacher-<sparsity>.pt` (a `study sqa` teacher) and scores the test clips."""
    teacher = XlsrSqaTeacher.load(teacher_file, settings.wav2vec2)
    teacher.embedding.requires_grad_(True)
    prune = PruneConfig(settings.prune_criterion, settings.prune_step_fraction, settings.prune_finetune_steps,
                        settings.prune_lr, sparsities=settings.prune_sparsities)
    points = teacher.prune_embedding(labeled_crops(teacher, splits["train"], settings), prune, out)
    rows = []
    for point in points:
        teacher.load_state_dict(load_checkpoint_state(point.path))
        scale, shift, _ = teacher.set_universal(audio_logits(teacher, splits["dev"]), splits["dev"].mos)
        path = teacher.save(out / f"teacher-{round(100 * point.sparsity)}.pt", with_embedding=True)
        test = evaluate(teacher, audio_logits(teacher, splits["test"]), splits["test"]) if len(splits["test"]) else []
        rows.append({"sparsity": point.sparsity, "sparse_params": point.sparse_params, "dense_params": point.dense_params,
                     "file": str(path), "universal": {"scale": scale, "shift": shift}, "test": test})
    return rows


def plot_training(history: list[dict[str, Any]], kept_step: int, path: Path) -> Path:
    """Training and weighted dev MSE against the step, the kept step marked."""
    with saved_figure(path, figsize=(6, 4)) as (fig, ax):
        steps = [row["step"] for row in history]
        ax.plot(steps, [row["train_mse"] for row in history], marker="o", label="train (mean since last validation)")
        ax.plot(steps, [row["dev_mse"] for row in history], marker="s", label="dev (weighted over datasets)")
        ax.axvline(kept_step, color="k", linestyle="--", label=f"kept: step {kept_step}")
        ax.set_xlabel("step")
        ax.set_ylabel("MSE (MOS²)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    return path


def train_xlsr_teacher(settings: XlsrTeacherTraining, manifests: Sequence[str | Path], out: str | Path
                       ) -> tuple[XlsrSqaTeacher, dict[str, Any]]:
    """Trains the XLS-R-SQA teacher (or reloads it when `out/teacher.pt` is finished) and, with
    `prune_sparsities`, prunes it into a family; writes teacher.pt, metrics.json (history, kept step,
    universal pair, test rows, pruned teachers), training.png and failures.jsonl."""
    out = Path(out)
    if not settings.wav2vec2:
        raise LeanspeechError("the XLS-R-SQA teacher needs `wav2vec2`: a local wav2vec2 / XLS-R model directory")
    splits = read_mos_manifests(manifests, settings.label_column)
    train, dev = splits["train"], splits["dev"]
    if not len(train) or not len(dev):
        raise CorpusError(f"{', '.join(map(str, manifests))}: need labeled train and dev clips, found "
                          f"{len(train)} and {len(dev)}")
    unseen = sorted(set(dev.datasets) - set(train.datasets))
    if unseen:
        raise CorpusError(f"dev datasets {unseen} have no train clips: their scale and shift cannot be learned")
    # the cached frames, progress and teacher in `out` belong to these settings and manifests
    record = {**asdict(settings), "manifests": [str(Path(m).resolve()) for m in manifests]}
    check_same_record(out / "run.json", record, may_change=("device",), defaults=asdict(XlsrTeacherTraining()))
    out.mkdir(parents=True, exist_ok=True)
    (out / "run.json").write_text(json.dumps(record, indent=2))
    finished = (out / "teacher.pt").is_file() and (out / "metrics.json").is_file()
    if finished:
        teacher, metrics = XlsrSqaTeacher.load(out / "teacher.pt", settings.wav2vec2), json.loads((out / "metrics.json").read_text())
    else:
        torch.manual_seed(settings.seed)
        names = sorted(set(train.datasets))
        teacher = XlsrSqaTeacher(settings.wav2vec2, settings.layer, len(names), frames=settings.frames)
        teacher.datasets = names
    teacher.embedding.requires_grad_(False)
    cache = FrameCache(teacher, out / "features", settings.device)
    failures = cache.fill(splits)
    if failures:
        (out / "failures.jsonl").write_text("".join(json.dumps({"clip": c, "problem": p}) + "\n" for c, p in failures.items()))
        log.warning("%d clip(s) could not be read and are left out (listed in %s)", len(failures), out / "failures.jsonl")
        splits = {split: clips.keep(set(clips.paths) - set(failures)) for split, clips in splits.items()}
    if not finished:
        trainer = XlsrHeadTrainer(teacher, cache, splits["train"], splits["dev"], settings)
        teacher, metrics = trainer.run(out / "progress.pt")
        scale, shift, mse = teacher.set_universal(trainer.raw_logits(splits["dev"]), splits["dev"].mos)
        test = evaluate(teacher, trainer.raw_logits(splits["test"]), splits["test"]) if len(splits["test"]) else []
        metrics.update(universal={"scale": scale, "shift": shift, "dev_mse": mse}, datasets=teacher.datasets,
                       clips={split: len(clips) for split, clips in splits.items()}, failures=len(failures), test=test)
        teacher.save(out / "teacher.pt")
        plot_training(metrics["history"], metrics["best_step"], out / "training.png")
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        (out / "progress.pt").unlink(missing_ok=True)
    if settings.prune_sparsities:
        metrics["pruned"] = prune_teacher_family(out / "teacher.pt", splits, settings, out / "pruned")
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return teacher.eval(), metrics

"""The distillation and pruning study of distill-prune-sqa.md on the offline degraded-speech corpus.

Data: the `sqa-unlabeled` corpus (leanspeech.data.sources.sqa_unlabeled), built if the folder has no
manifest. Train clips: a `labeled_fraction` of the degraded human clips (chosen by a hash of the path)
form the labeled set, ground truth WB-PESQ against the clean reference; the other train clips, TTS
included, are unlabeled. Dev clips validate; test clips (held-out speakers, voices and noise files) are
the test sets "human" (ground truth: WB-PESQ) and "tts" (no ground truth: agreement with the teacher).

Runs (each resumable: finished models are reused, teacher labels and the clips' features are cached; the
features, and the hints' teacher frames, are memory-mapped from the run folder: data/tensor_cache.py):
  labeled-only baseline  each student size trained on labeled clips only (raw labels)
  distilled              each size, each mix-in fraction p: teacher labels + p of labeled clips whose
                         labels are mapped into the teacher's scale; p per size by dev PCC with the truth;
                         with `train.hint_weight` > 0 also the teacher's hidden frames of the unlabeled
                         clips (frame hints, compress/frame_hints.py; cached in labels/teacher_frames)
  pruned                 the distilled `prune_size` student, Taylor vs magnitude pruning to each sparsity,
                         fine-tuned on labeled clips (mapped labels) between steps
  teacher-pruned         Distill-MOS's own network Taylor-pruned to each `teacher_prune` sparsity on the
                         unlabeled clips, the unpruned teacher's predictions as targets (sqa_teacher_prune.py)
Evaluation: PCC per test set, clip-weighted and unweighted means (Table I), PCC vs parameters (Fig. 3),
agreement with the teacher, and latency of student vs teacher timed interleaved in one run.
With `seeds` > 1 the baselines and distilled students are trained once per seed (runs of seeds after the
first are named `...-seedN`) and the report adds their mean ± sd; the first seed's students are pruned and timed.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from leanspeech.audio.io import load_audio
from leanspeech.compress.frame_hints import cached_teacher_frames, hint_teacher
from leanspeech.compress.prune import PruneConfig, prune_model
from leanspeech.compress.teachers import TEACHER_RATE, DnsmosTeacher, Teacher, load_teacher, teacher_parameters
from leanspeech.data.corpus import build_corpus
from leanspeech.data.manifest import ManifestEntry, read_manifest
from leanspeech.data.pseudo_labels import cached_pseudo_labels
from leanspeech.data.tensor_cache import cached_tensors
from leanspeech.errors import CorpusError
from leanspeech.metrics import pcc
from leanspeech.models.io import load_model
from leanspeech.models.quality_student import QualityStudent
from leanspeech.profile.latency import torch_threads
from leanspeech.profile.params import count_parameters
from leanspeech.report.timing import interleaved_seconds
from leanspeech.studies.recipe import check_keys, read_recipe
from leanspeech.studies.runs import check_same_study, train_or_reuse, write_study_record
from leanspeech.studies.sqa_report import agreement_by_condition, evaluate, write_report
from leanspeech.studies.sqa_teacher_prune import TeacherPruning, centre_crops, load_pruned, prune_teacher
from leanspeech.studies.sqa_train import (
    MixedBatches,
    Pool,
    StudentTraining,
    fit_label_map,
    map_labels,
    precise_batchnorm,
    train_student,
)


@dataclass
class SqaStudyConfig:
    corpus_minutes: float = 60.0  # minutes of degraded clips when the corpus has to be built
    teacher: str = "distill-mos"  # or the path of a leanspeech quality model or a saved XLS-R-SQA teacher
    dnsmos: bool = True  # DNSMOS OVRL as a reference row
    sizes: tuple[str, ...] = ("xxs", "xs", "s", "m")
    mix_grid: tuple[float, ...] = (0.0, 0.1, 0.2, 0.4, 0.8)
    labeled_fraction: float = 0.3
    crop_seconds: float = 8.0  # clips longer than this keep their centre; training cuts windows of train.window_seconds
    train: StudentTraining = field(default_factory=StudentTraining)
    prune_size: str = "s"
    prune_sparsities: tuple[float, ...] = (0.3, 0.5, 0.7)
    prune_step_fraction: float = 0.02
    prune_finetune_steps: int = 30
    prune_lr: float = 1e-4
    teacher_prune: TeacherPruning = field(default_factory=TeacherPruning)  # the teacher pruned into a family
    teacher_workers: int = 2
    latency_repeats: int = 10
    seed: int = 0
    seeds: int = 1  # students and baselines trained with seeds seed … seed + seeds − 1; the table adds mean ± sd

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {self.seeds}")

    @classmethod
    def quick(cls, **overrides: Any) -> SqaStudyConfig:
        """A CPU-sized run (≈ 25 min on one thread): 3 sizes, p in {0, 0.2}, 400 steps on 2 s windows,
        2 sparsities."""
        values: dict[str, Any] = dict(
            corpus_minutes=30.0, sizes=("xxs", "xs", "s"), mix_grid=(0.0, 0.2), crop_seconds=8.0,
            train=StudentTraining(steps=400, val_every=50, window_seconds=2.0), prune_sparsities=(0.3, 0.6),
            prune_step_fraction=0.05, prune_finetune_steps=10, latency_repeats=5,
            teacher_prune=TeacherPruning(sparsities=(0.3, 0.5), step_fraction=0.05, finetune_steps=4, max_clips=60))
        values.update(overrides)
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | Path, quick: bool = False) -> SqaStudyConfig:
        values = dict(read_recipe(path))
        check_keys(values, cls, str(path))
        train = values.pop("train", None) or {}
        check_keys(train, StudentTraining, f"{path}: train")
        teacher_prune = values.pop("teacher_prune", None) or {}
        check_keys(teacher_prune, TeacherPruning, f"{path}: teacher_prune")
        if "sparsities" in teacher_prune:
            teacher_prune["sparsities"] = tuple(teacher_prune["sparsities"])
        for key in ("sizes", "mix_grid", "prune_sparsities"):
            if key in values:
                values[key] = tuple(values[key])
        if quick:
            base = cls.quick()
            values["train"] = StudentTraining(**{**asdict(base.train), **train})
            values["teacher_prune"] = TeacherPruning(**{**asdict(base.teacher_prune), **teacher_prune})
            return cls.quick(**values)
        return cls(train=StudentTraining(**train), teacher_prune=TeacherPruning(**teacher_prune), **values)

    def teacher_factory(self) -> Callable[[], Teacher]:
        return functools.partial(load_teacher, self.teacher)


@dataclass
class Clip:
    entry: ManifestEntry
    path: str
    teacher: float
    truth: float  # WB-PESQ, NaN where there is none


def is_labeled(path: str, fraction: float) -> bool:
    """A stable choice by the path's hash, independent of the seed and of the corpus size."""
    return int(hashlib.sha1(path.encode()).hexdigest()[:8], 16) / 16**8 < fraction


def load_features(clips: list[Clip], seconds: float, folder: Path) -> list[torch.Tensor]:
    """Compressed complex spectrograms (2, 161, frames) of each clip: all of it, or its centre `seconds`
    when longer. Computed once into `folder` and memory-mapped from there (data/tensor_cache.py), so that
    the corpus need not fit in RAM and a re-run reads no audio; training cuts windows out of these."""
    frontend = QualityStudent("xxs").frontend
    length = int(seconds * TEACHER_RATE)

    @torch.no_grad()
    def compute(part: list[int]) -> list[torch.Tensor]:
        out = []
        for i in part:
            wav, _ = load_audio(clips[i].path, sample_rate=TEACHER_RATE)
            start = max(0, (len(wav) - length) // 2)
            out.append(frontend(torch.from_numpy(wav[start:start + length])[None])[0])
        return out

    return cached_tensors(folder, [c.path for c in clips], compute,
                          recipe={"frontend": repr(frontend), "crop_seconds": seconds}, desc="features")


def pool(clips: list[Clip], features: list[torch.Tensor], index: list[int], target: str) -> Pool:
    values = torch.tensor([getattr(clips[i], target) for i in index], dtype=torch.float32)
    return Pool([features[i] for i in index], values, ["wb-pesq"] * len(index))


# Manifest columns that group clips by how they were made (sqa-unlabeled's chain), for conditions.csv.
CONDITIONS = ("speech_type", "speaker", "rir", "enhancer", "vocoder", "codec")
TEACHER_BAND = 0.5  # conditions.csv also groups clips by the teacher's score, in bands this wide


def condition(entry: ManifestEntry, column: str) -> str:
    """The clip's value in a CONDITIONS column; TTS clips are left as generated, so their chain columns
    read "tts" (one group of their own instead of joining the undegraded human clips)."""
    if column == "speaker":
        return entry.speaker
    if column != "speech_type" and entry.extra.get("speech_type") == "tts":
        return "tts"
    return entry.extra.get(column, "")


def teacher_band(score: float) -> str:
    low = math.floor(score / TEACHER_BAND) * TEACHER_BAND
    return f"{low:.1f}-{low + TEACHER_BAND:.1f}"


def conditions_of(clips: list[Clip]) -> dict[str, list[str]]:
    """Each clip's CONDITIONS, and the band of the teacher's score it lies in ("teacher_score"): a student
    that compresses the teacher's range scores the low bands too high and the high ones too low."""
    groups = {column: [condition(c.entry, column) for c in clips] for column in CONDITIONS}
    groups["teacher_score"] = [teacher_band(c.teacher) for c in clips]
    return groups


def interleaved_latency(teacher: Teacher, students: dict[str, Callable[[torch.Tensor], torch.Tensor]], seconds: float,
                        repeats: int) -> dict[str, Any]:
    """The teacher and each student (a waveform → score callable) on the same batch-1 clip, in turn, one
    thread: median/min/max seconds of each and every student's speed-up (teacher median / its median)."""
    wav = 0.1 * torch.randn(1, int(seconds * TEACHER_RATE), generator=torch.Generator().manual_seed(0))
    calls = {"teacher": lambda: teacher.predict(wav), **{name: functools.partial(f, wav) for name, f in students.items()}}
    with torch_threads(1), torch.inference_mode():
        timed = interleaved_seconds(calls, repeats, warmup=1)
    teacher_times = timed.pop("teacher")
    for timing in timed.values():
        timing["speedup"] = teacher_times["median_s"] / timing["median_s"]
    return {"audio_seconds": seconds, "repeats": repeats, "threads": 1, "teacher": teacher_times, "students": timed}


def run_sqa_study(config: SqaStudyConfig, corpus: str | Path, out: str | Path, workers: int = 2) -> dict[str, Any]:
    started = time.monotonic()
    corpus, out = Path(corpus), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if not (corpus / "manifest.csv").is_file():
        build_corpus(corpus, minutes=config.corpus_minutes, seed=config.seed, task="sqa-unlabeled", workers=workers)
    # models are reused by folder name and labels by clip: only what adds runs or rows may change
    check_same_study(out, corpus, config, may_change=(
        "corpus_minutes", "sizes", "mix_grid", "dnsmos", "teacher_workers", "latency_repeats", "seeds"))
    write_study_record(out, corpus, asdict(config))
    # loaded before the labelling, so that a teacher without hidden frames fails before hours of work
    hint_model = hint_teacher(config.teacher) if config.train.hint_weight else None
    entries = read_manifest(corpus / "manifest.csv", kind="degraded")
    if not entries:
        raise CorpusError(f"{corpus}: no degraded clips in the manifest; build it with --task sqa-unlabeled")
    paths = [str(e.resolve(corpus)) for e in entries]
    teacher_labels = cached_pseudo_labels(config.teacher_factory(), paths, out / "labels" / "teacher.jsonl",
                                          config.teacher_workers)
    clips = [Clip(e, p, teacher_labels.labels[p], float(e.extra["pesq"]) if e.extra.get("pesq") else float("nan"))
             for e, p in zip(entries, paths) if p in teacher_labels.labels]
    features = load_features(clips, config.crop_seconds, out / "features")

    def where(split: str, test: Callable[[Clip], bool] = lambda c: True) -> list[int]:
        return [i for i, c in enumerate(clips) if c.entry.split == split and test(c)]

    has_truth = lambda c: not np.isnan(c.truth)  # noqa: E731
    labeled_index = where("train", lambda c: has_truth(c) and is_labeled(c.entry.path, config.labeled_fraction))
    unlabeled_index = sorted(set(where("train")) - set(labeled_index))
    if not labeled_index or not unlabeled_index or not where("dev", has_truth) or not where("test", has_truth):
        raise CorpusError(f"{corpus}: too few clips: need labeled and unlabeled train clips and labeled dev and "
                          "test clips; build a larger corpus")
    labeled_raw = pool(clips, features, labeled_index, "truth")
    scale, shift, map_mse = fit_label_map(labeled_raw.targets, pool(clips, features, labeled_index, "teacher").targets)
    labeled_mapped = Pool(labeled_raw.features, map_labels(labeled_raw.targets, scale, shift), labeled_raw.datasets)
    unlabeled = pool(clips, features, unlabeled_index, "teacher")
    if config.train.hint_weight:  # the clips distilled on carry the teacher's frames (compress/frame_hints.py)
        unlabeled.hints = cached_teacher_frames(
            lambda: hint_model, unlabeled.features,
            [clips[i].path for i in unlabeled_index], out / "labels" / "teacher_frames")
    val_truth, val_teacher = pool(clips, features, where("dev", has_truth), "truth"), pool(clips, features, where("dev"), "teacher")
    test_index = where("test")
    test = {"features": [features[i] for i in test_index], "truth": np.array([clips[i].truth for i in test_index]),
            "teacher": np.array([clips[i].teacher for i in test_index]),
            "sets": [clips[i].entry.extra.get("speech_type", "human") for i in test_index],
            "conditions": conditions_of([clips[i] for i in test_index])}
    # The clips distillation trains on, grouped the same way: agreement there is how well a student fits.
    trained_on = {"features": unlabeled.features, "teacher": unlabeled.targets.numpy(),
                  "conditions": conditions_of([clips[i] for i in unlabeled_index])}

    def draw(unlabeled_pool: Pool | None, labeled: Pool, mix: float, seed: int = config.seed) -> MixedBatches:
        generator = torch.Generator().manual_seed(seed)
        return MixedBatches(unlabeled_pool, labeled, mix, config.train.batch_size, config.train.dataset_cap, generator,
                            config.train.window_frames)

    def fit(name: str, size: str, seed: int, source: Callable, val) -> tuple[torch.nn.Module, dict]:
        return train_or_reuse(out / "models" / name, lambda progress: train_student(
            _seeded_student(size, seed), source(), val, config.train, seed, name, progress))

    score = config.train.score
    rows: list[dict[str, Any]] = []

    def add(method: str, name: str, predictions: np.ndarray, params: float, **extra: Any) -> dict[str, Any]:
        row = {"method": method, "model": name, "params": params, **evaluate(predictions, test), **extra}
        rows.append(row)
        return row

    teacher = load_teacher(config.teacher)
    add("teacher", config.teacher, test["teacher"], teacher_parameters(teacher))
    if config.dnsmos:
        dnsmos = cached_pseudo_labels(functools.partial(DnsmosTeacher, "ovrl"), [clips[i].path for i in test_index],
                                      out / "labels" / "dnsmos.jsonl", config.teacher_workers)
        kept = [dnsmos.labels.get(clips[i].path, float("nan")) for i in test_index]
        add("DNSMOS", "dnsmos-ovrl", np.array(kept), float("nan"))
    grid, distilled, conditions = [], {}, []
    for size, seed in itertools.product(config.sizes, range(config.seed, config.seed + config.seeds)):
        suffix = "" if seed == config.seed else f"-seed{seed}"  # the first seed's runs keep their old names
        # Distilled students first: a study stopped early to save time has then lost a baseline, not them.
        chosen = None
        for mix in config.mix_grid:
            name = f"distilled-{size}-p{round(100 * mix)}{suffix}"
            model, metrics = fit(name, size, seed, lambda: draw(unlabeled, labeled_mapped, mix, seed), val_teacher)
            dev_pcc = pcc(score(model, val_truth.features).numpy(), val_truth.targets.numpy())
            grid.append({"size": size, "seed": seed, "mix": mix, "dev_pcc_truth": dev_pcc,
                         "val_mse_teacher": metrics["val_mse"], "params": count_parameters(model).dense})
            if chosen is None or dev_pcc > chosen[1]:
                chosen = (model, dev_pcc, mix)
        distilled.setdefault(size, chosen)  # the first seed's student is pruned and timed
        model, metrics = fit(f"baseline-{size}{suffix}", size, seed, lambda: draw(None, labeled_raw, 1.0, seed),
                             val_truth)
        add("labeled-only", size, score(model, test["features"]).numpy(), count_parameters(model).dense,
            val_mse=metrics["val_mse"], seed=seed)
        model, _, mix = chosen
        predictions = score(model, test["features"]).numpy()
        add("distilled", size, predictions, count_parameters(model).dense, mix=mix, seed=seed)
        conditions += [{"model": size, "seed": seed, "mix": mix, "clips": "test", **row}
                       for row in agreement_by_condition(predictions, test)]
        conditions += [{"model": size, "seed": seed, "mix": mix, "clips": "train", **row}
                       for row in agreement_by_condition(score(model, trained_on["features"]).numpy(), trained_on)]
    prune_points = []
    if config.prune_sparsities and config.prune_size in distilled:
        base = distilled[config.prune_size][0]
        for criterion in ("taylor", "magnitude"):
            model = copy.deepcopy(base)
            source = draw(None, labeled_mapped, 1.0)
            prune = PruneConfig(criterion, config.prune_step_fraction, config.prune_finetune_steps, config.prune_lr,
                                sparsities=config.prune_sparsities)
            points = prune_model(model, lambda m, b: torch.nn.functional.mse_loss(m(b[0]), b[1]),
                                 iter(source, None), prune, out / "pruned" / criterion)
            for point in points:
                pruned = load_model(point.path)
                precise_batchnorm(pruned, draw(None, labeled_mapped, 1.0), config.train.precise_bn_batches)
                row = add(f"{criterion}-pruned", f"{config.prune_size} @ {point.sparsity:.0%}",
                          score(pruned, test["features"]).numpy(), point.sparse_params, sparsity=point.sparsity)
                prune_points.append(row)
    if config.teacher_prune.sparsities:
        for row in _pruned_teachers(config, [clips[i].path for i in unlabeled_index], [clips[i].path for i in test_index],
                                    out / "pruned" / "teacher"):
            add(**row)
    latency = _latency(config, distilled, teacher)
    summary = {"label_map": {"scale": scale, "shift": shift, "mse": map_mse},
               "clips": {"labeled": len(labeled_index), "unlabeled": len(unlabeled_index),
                         "dev": len(val_teacher), "test": len(test_index),
                         "teacher_failures": len(teacher_labels.failures)},
               "latency": latency, "seconds": time.monotonic() - started}
    return write_report(out, rows, grid, conditions, summary)


def _pruned_teachers(config: SqaStudyConfig, train_paths: list[str], test_paths: list[str],
                     out_dir: Path) -> Iterator[dict[str, Any]]:
    """The teacher's network pruned to each sparsity on the unlabeled training clips (sqa_teacher_prune.py);
    each pruned teacher scores the test clips as the teacher does."""
    if config.teacher != "distill-mos":
        print(f"teacher pruning skipped: it prunes Distill-MOS's network, the teacher here is {config.teacher}")
        return
    from leanspeech.peers.distill_mos import DistillMos

    settings = config.teacher_prune
    peer = DistillMos()
    read = lambda paths: [load_audio(p, sample_rate=TEACHER_RATE)[0] for p in paths]  # noqa: E731
    crops = centre_crops(read(train_paths[:settings.max_clips]), peer.crop_length)
    print(f"pruning the teacher ({settings.criterion}) on {len(crops)} unlabeled clips")
    test_wavs = read(test_paths)
    for point in prune_teacher(peer.model, crops, settings, out_dir, config.seed):
        pruned = copy.copy(peer)
        pruned.model = load_pruned(peer.model, point)
        yield {"method": "teacher-pruned", "name": f"{config.teacher} @ {point.sparsity:.0%}",
               "predictions": np.array(pruned.score_batch(test_wavs, TEACHER_RATE, progress=False)),
               "params": point.sparse_params, "sparsity": point.sparsity}


def _seeded_student(size: str, seed: int) -> QualityStudent:
    torch.manual_seed(seed)
    return QualityStudent(size)


def _latency(config: SqaStudyConfig, distilled: dict[str, tuple], teacher: Teacher) -> dict[str, Any]:
    """Every distilled student within 1/20 of the teacher's parameters (else the smallest) against the teacher,
    each scoring as in the evaluation (mean over windows)."""
    budget = teacher_parameters(teacher) / 20
    by_size = sorted(distilled.items(), key=lambda kv: count_parameters(kv[1][0]).dense)
    timed = [kv for kv in by_size if count_parameters(kv[1][0]).dense <= budget] or by_size[:1]
    seconds = 7.68  # Distill-MOS's crop: both see the same audio

    def scorer(student: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda wav: config.train.score(student, list(student.features(wav)))

    students = {size: scorer(student) for size, (student, *_) in timed}
    return interleaved_latency(teacher, students, seconds, config.latency_repeats)

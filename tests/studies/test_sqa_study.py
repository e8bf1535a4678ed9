"""The quality distillation study end to end on a tiny hand-made corpus with a small model teacher."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from leanspeech.compress.teachers import mos_to_logits
from leanspeech.data.manifest import ManifestEntry, write_manifest
from leanspeech.data.sources.sqa_unlabeled import ChainDraw, apply_chain, intrusive_label
from leanspeech.errors import LeanspeechError, RecipeError
from leanspeech.models.io import save_model
from leanspeech.models.quality_student import QualityStudent
from leanspeech.studies.sqa import SqaStudyConfig, is_labeled, run_sqa_study, teacher_band
from leanspeech.studies.sqa_report import agreement_by_condition
from leanspeech.studies.sqa_train import (
    MixedBatches,
    Pool,
    StudentTraining,
    capped_weights,
    fit_label_map,
    map_labels,
    precise_batchnorm,
    predict,
    train_student,
)

RATE = 16000


def speech_like(seconds: float, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    phase = 2 * np.pi * np.cumsum(150 + 40 * np.sin(2 * np.pi * 0.8 * t + seed)) / RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 16))
    return (0.2 * voiced * np.maximum(0, np.sin(2 * np.pi * 4 * t + seed)) ** 2).astype(np.float32)


def tiny_corpus(root: Path) -> None:
    """Degraded clips at SNRs from -5 to 30 dB with their WB-PESQ labels, and a few TTS-like clips."""
    rng = np.random.default_rng(0)
    entries = []
    for split, count in (("train", 16), ("dev", 5), ("test", 6)):
        for i in range(count):
            clean = speech_like(1.5, i)
            tts = i % 5 == 4
            snr = float(rng.uniform(-5, 30))
            noise = rng.standard_normal(len(clean)).astype(np.float32)
            wav = clean if tts else apply_chain(clean, RATE, ChainDraw(False, 1.5, snr=snr), noise)
            path = f"degraded/{split}/{i:03d}.wav"
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            sf.write(root / path, wav, RATE, subtype="FLOAT")
            extra = {"speech_type": "tts" if tts else "human", "pesq": "" if tts else intrusive_label(clean, wav, RATE)}
            entries.append(ManifestEntry(path, "degraded", split, f"{split}-{i % 2}", "sqa-degraded", 1.5, RATE, extra=extra))
    write_manifest(root / "manifest.csv", entries)


def test_agreement_by_condition_groups_clips_and_measures_offsets():
    teacher = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 3.0])
    student = teacher + np.array([0.5, 0.5, 0.5, 0.0, 0.0, 0.0])  # room clips scored 0.5 too high
    student[5] = np.nan  # a clip the student could not score is left out
    test = {"teacher": teacher, "conditions": {"rir": ["1", "1", "1", "0", "0", "0"], "codec": ["mp3"] * 6}}
    rows = {(r["condition"], r["value"]): r for r in agreement_by_condition(student, test)}
    assert rows[("rir", "1")]["n"] == 3 and rows[("rir", "1")]["teacher_pcc"] == pytest.approx(1.0)
    assert rows[("rir", "1")]["offset"] == pytest.approx(0.5) and rows[("rir", "0")]["offset"] == pytest.approx(0.0)
    assert rows[("rir", "0")]["n"] == 2 and rows[("codec", "mp3")]["n"] == 5
    assert [teacher_band(score) for score in (1.08, 1.5, 3.999, 4.47)] == ["1.0-1.5", "1.5-2.0", "3.5-4.0", "4.0-4.5"]


def test_capped_weights_and_label_map():
    weights = capped_weights(["big"] * 30 + ["small"] * 5, cap=10)
    assert float(weights[:30].sum()) == pytest.approx(10.0) and float(weights[30:].sum()) == pytest.approx(5.0)
    labels = torch.linspace(1.2, 4.5, 50)
    teacher = map_labels(labels, 0.8, 0.5)  # a known logit-domain map is recovered by the grid search
    scale, shift, mse = fit_label_map(labels, teacher)
    assert scale == pytest.approx(0.8, abs=0.03) and shift == pytest.approx(0.5, abs=0.06) and mse < 1e-3


def test_predict_averages_windows_per_clip():
    class FirstFrame(torch.nn.Module):  # the window's first frame number as its score
        def forward(self, x):
            return x[:, 0, 0, 0]

    clips = [torch.arange(n, dtype=torch.float32).expand(2, 3, n).clone() for n in (8, 12, 25)]
    scores = predict(FirstFrame(), clips, frames=8, clips_per_call=2)
    assert scores.tolist() == pytest.approx([0.0, (0 + 4) / 2, (0 + 4 + 8 + 12 + 16 + 17) / 6])
    back_to_back = StudentTraining(window_seconds=0.08, score_overlap=0.0)  # 8 frames, hop 8
    scores = predict(FirstFrame(), clips, back_to_back.window_frames, back_to_back.score_hop_frames)
    assert scores.tolist() == pytest.approx([0.0, (0 + 4) / 2, (0 + 8 + 16 + 17) / 4])


def test_student_training_settings_are_checked():
    with pytest.raises(ValueError, match="lr_schedule"):
        StudentTraining(lr_schedule="linear")
    with pytest.raises(ValueError, match="score_overlap"):
        StudentTraining(score_overlap=1.0)
    with pytest.raises(ValueError, match="loss_scale"):
        StudentTraining(loss_scale="db")


def test_logit_loss_reaches_the_ends_of_the_scale():
    """Near MOS 1 and 5 the sigmoid flattens the gradient of an MOS error; MSE between logits does not, so
    the same training gets closer to targets at the ends of the scale."""
    targets = torch.tensor([1.05, 1.05, 4.8, 4.8])
    torch.manual_seed(0)
    pool_ = Pool([torch.randn(2, 161, 40) + 3 * (t > 2) for t in targets], targets, ["a"] * 4)

    def logit_error(loss_scale: str) -> float:
        draw = MixedBatches(pool_, None, 0.0, 4, 10, torch.Generator().manual_seed(0), 40)
        settings = StudentTraining(steps=40, val_every=40, window_seconds=0.4, lr=3e-3, precise_bn_batches=0,
                                   loss_scale=loss_scale)
        model, _ = train_student(QualityStudent("xxs"), draw, pool_, settings, seed=0, name=loss_scale)
        return (mos_to_logits(predict(model, pool_.features, 40)) - mos_to_logits(targets)).abs().mean().item()

    assert logit_error("logit") < 0.75 * logit_error("mos")


def test_cosine_schedule_decays_the_learning_rate_to_zero():
    torch.manual_seed(0)
    model = QualityStudent("xxs")
    pool_ = Pool([torch.randn(2, 161, 60) for _ in range(6)], torch.full((6,), 3.0), ["a"] * 6)
    draw = MixedBatches(pool_, None, 0.0, 4, 10, torch.Generator().manual_seed(0), 40)
    settings = StudentTraining(steps=4, val_every=2, window_seconds=0.4, lr_schedule="cosine", precise_bn_batches=0)
    seen: list[float] = []
    step = torch.optim.AdamW.step

    def recording_step(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return step(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.optim.AdamW, "step", recording_step)
        train_student(model, draw, pool_, settings, seed=0, name="cosine")
    assert seen[0] == pytest.approx(1e-3) and seen == sorted(seen, reverse=True) and seen[-1] < 0.2 * seen[0]


@pytest.mark.parametrize("select_by", ["mse", "pcc"])
def test_the_kept_checkpoint_is_the_best_by_the_chosen_metric(select_by):
    torch.manual_seed(0)
    train_pool = Pool([torch.randn(2, 161, 60) for _ in range(6)], torch.linspace(1, 4, 6), ["a"] * 6)
    val = Pool([torch.randn(2, 161, 60) for _ in range(5)], torch.linspace(1.5, 4.5, 5), ["a"] * 5)
    draw = MixedBatches(train_pool, None, 0.0, 4, 10, torch.Generator().manual_seed(0), 40)
    settings = StudentTraining(steps=6, val_every=1, window_seconds=0.4, lr=0.01, precise_bn_batches=0,
                               select_by=select_by)
    model, metrics = train_student(QualityStudent("xxs"), draw, val, settings, seed=0, name=select_by)
    history = metrics["history"]
    best = (max(history, key=lambda h: h["val_pcc"]) if select_by == "pcc" else min(history, key=lambda h: h["val_mse"]))
    assert metrics["best_step"] == best["step"] and metrics["val_mse"] == best["val_mse"]
    assert len({round(h["val_mse"], 6) for h in history}) > 1  # the checkpoints differ: the choice means something
    scores = predict(model, val.features, settings.window_frames, settings.score_hop_frames)
    assert torch.nn.functional.mse_loss(scores, val.targets).item() == pytest.approx(best["val_mse"], rel=1e-4)


def test_precise_batchnorm_replaces_drifting_running_statistics():
    torch.manual_seed(0)
    model = QualityStudent("xxs")
    pool_features = [torch.randn(2, 161, 60) for _ in range(6)]
    draw = MixedBatches(Pool(pool_features, torch.full((6,), 3.0), ["a"] * 6), None, 0.0, 4, 10,
                   torch.Generator().manual_seed(0), 40)
    norm = model.head.input_norm
    norm.running_mean.fill_(100.0)  # stale statistics, far from the data's
    precise_batchnorm(model, draw, 3)
    assert float(norm.running_mean.abs().max()) < 10 and norm.momentum == 0.1 and model.training


def test_labeled_choice_is_stable_and_near_the_fraction():
    chosen = [is_labeled(f"degraded/train-{i:05d}.flac", 0.3) for i in range(4000)]
    assert abs(np.mean(chosen) - 0.3) < 4 * math.sqrt(0.3 * 0.7 / 4000)
    assert chosen == [is_labeled(f"degraded/train-{i:05d}.flac", 0.3) for i in range(4000)]


@pytest.mark.slow  # ≈ 40-80 s on the shared 2-core machine
def test_quick_study_end_to_end_and_resume(tmp_path: Path):
    corpus = tmp_path / "corpus"
    tiny_corpus(corpus)
    torch.manual_seed(1)
    teacher_path = save_model(QualityStudent("xxs"), tmp_path / "teacher.pt")
    config = SqaStudyConfig.quick(
        teacher=str(teacher_path), dnsmos=False, sizes=("xxs",), mix_grid=(0.0, 0.5), labeled_fraction=0.5,
        crop_seconds=1.0, train=StudentTraining(steps=8, batch_size=4, val_every=4, window_seconds=0.5, hint_weight=1.0),
        prune_size="xxs",
        prune_sparsities=(0.2,), prune_step_fraction=0.1, prune_finetune_steps=2, teacher_workers=1,
        latency_repeats=1)
    result = run_sqa_study(config, corpus, tmp_path / "out")
    rows = {(r["method"], r["model"]): r for r in result["rows"]}
    assert set(m for m, _ in rows) == {"teacher", "labeled-only", "distilled", "taylor-pruned", "magnitude-pruned"}
    teacher = rows[("teacher", str(teacher_path))]
    assert teacher["teacher_pcc"] == pytest.approx(1.0)  # the teacher agrees with itself
    assert teacher["params"] == sum(p.numel() for p in QualityStudent("xxs").parameters())
    assert teacher["n_human"] == sum(1 for i in range(6) if i % 5 != 4)  # test clips with a PESQ label
    for row in result["rows"]:
        assert -1.0 <= row["pcc_weighted"] <= 1.0
        assert row["pcc_weighted"] == pytest.approx(row["pcc_human"])  # one labeled test set: means agree
    assert len(result["mix_grid"]) == 2
    pruned = rows[("taylor-pruned", "xxs @ 20%")]
    assert pruned["params"] < rows[("distilled", "xxs")]["params"] * 1.5
    out = Path(result["paths"]["json"]).parent
    for name in ("results.csv", "table.md", "pcc_vs_params.png", "mix_grid.csv", "conditions.csv", "labels/teacher.jsonl"):
        assert (out / name).is_file()
    stored = lambda folder: sum(len(torch.load(f, weights_only=True)) for f in (out / folder).glob("chunk-*.pt"))  # noqa: E731
    counts = result["clips"]
    assert stored("features") == counts["labeled"] + counts["unlabeled"] + counts["dev"] + counts["test"]  # every clip
    assert stored("labels/teacher_frames") == counts["unlabeled"]  # frame hints of the clips distilled on
    groups = {(r["clips"], r["condition"], r["value"]): r["n"] for r in result["conditions"]}  # one distilled student
    assert groups[("test", "speaker", "test-0")] == groups[("test", "speaker", "test-1")] == 3  # three clips each
    assert groups[("test", "speech_type", "tts")] == groups[("test", "vocoder", "tts")] == 1  # TTS: no chain
    bands = [value for (clips, column, value) in groups if clips == "test" and column == "teacher_score"]
    assert sum(groups[("test", "teacher_score", band)] for band in bands) == 6  # each clip in one band
    assert all(float(band.split("-")[1]) - float(band.split("-")[0]) == pytest.approx(0.5) for band in bands)
    unlabeled = result["clips"]["unlabeled"]  # the clips distillation trained on, grouped the same way
    assert sum(n for (clips, column, _), n in groups.items() if clips == "train" and column == "speech_type") == unlabeled
    assert set(result["latency"]["students"]) == {"xxs"} and result["latency"]["students"]["xxs"]["speedup"] > 0
    # A re-run reuses the labels and every finished model: same numbers.
    again = run_sqa_study(config, corpus, tmp_path / "out")
    assert [r["pcc_weighted"] for r in again["rows"]] == pytest.approx([r["pcc_weighted"] for r in result["rows"]])
    assert json.loads((out / "results.json").read_text())["clips"]["teacher_failures"] == 0
    # Another number of steps would reuse models trained with the old one: refused before any work.
    with pytest.raises(RecipeError, match=r"other train \(see .*study\.json\)"):
        run_sqa_study(replace(config, train=replace(config.train, steps=9)), corpus, tmp_path / "out")
    # A second seed added to the finished folder: the first seed's runs are reused, the second's trained.
    first_seed = {f: f.stat().st_mtime_ns for f in (out / "models").glob("*/model.pt")}
    two = run_sqa_study(replace(config, seeds=2), corpus, tmp_path / "out")
    assert {f: f.stat().st_mtime_ns for f in first_seed} == first_seed
    seeded = {(r["method"], r.get("seed")): r for r in two["rows"] if r["method"] in ("labeled-only", "distilled")}
    assert set(seeded) == {(m, s) for m in ("labeled-only", "distilled") for s in (0, 1)}
    assert seeded[("distilled", 0)]["teacher_pcc"] == pytest.approx(rows[("distilled", "xxs")]["teacher_pcc"])
    assert {f.parent.name for f in (out / "models").glob("*/model.pt")} - {f.parent.name for f in first_seed} == {
        "distilled-xxs-p0-seed1", "distilled-xxs-p50-seed1", "baseline-xxs-seed1"}
    assert seeded[("distilled", 1)]["teacher_pcc"] != seeded[("distilled", 0)]["teacher_pcc"]  # another training
    spread = {(e["method"], e["model"]): e for e in two["over_seeds"]}
    assert set(spread) == {("labeled-only", "xxs"), ("distilled", "xxs")}
    assert spread[("distilled", "xxs")]["seeds"] == [0, 1]
    both = [seeded[("distilled", s)]["teacher_pcc_human"] for s in (0, 1)]
    assert spread[("distilled", "xxs")]["teacher_pcc_human"]["mean"] == pytest.approx(np.mean(both))
    assert spread[("distilled", "xxs")]["teacher_pcc_human"]["sd"] == pytest.approx(np.std(both, ddof=1))
    assert "Over seeds" in (out / "table.md").read_text() and "xxs, seed 1" in (out / "table.md").read_text()
    assert {r["seed"] for r in two["conditions"]} == {0, 1} and {r["seed"] for r in two["mix_grid"]} == {0, 1}
    with pytest.raises(ValueError, match="seeds"):
        replace(config, seeds=0)


@pytest.mark.slow  # ≈ 15 s
def test_study_distils_the_xls_r_sqa_teacher_that_study_sqa_teacher_trained(tmp_path: Path, tiny_wav2vec2):
    """The paper's whole pipeline at toy size: XLS-R-SQA trained on labeled clips, then distilled."""
    from leanspeech.audio.io import load_audio
    from leanspeech.compress.teachers import teacher_parameters
    from leanspeech.data.manifest import read_manifest
    from leanspeech.studies.sqa_teacher_train import XlsrTeacherTraining, train_xlsr_teacher

    corpus = tmp_path / "corpus"
    tiny_corpus(corpus)
    labeled = [replace(e, extra={**e.extra, "mos": e.extra["pesq"]}) for e in read_manifest(corpus / "manifest.csv")
               if e.extra.get("pesq")]
    settings = XlsrTeacherTraining(wav2vec2=str(tiny_wav2vec2), layer=2, frames=12, steps=4, batch_size=4, val_every=2)
    teacher, _ = train_xlsr_teacher(settings, [write_manifest(corpus / "mos.csv", labeled)], tmp_path / "teacher")
    config = SqaStudyConfig.quick(
        teacher=str(tmp_path / "teacher" / "teacher.pt"), dnsmos=False, sizes=("xxs",), mix_grid=(0.0,),
        labeled_fraction=0.5, crop_seconds=1.0, train=StudentTraining(steps=4, batch_size=4, val_every=2, window_seconds=0.5),
        prune_sparsities=(), teacher_workers=2, latency_repeats=1)
    result = run_sqa_study(config, corpus, tmp_path / "out")
    rows = {r["method"]: r for r in result["rows"]}
    assert rows["teacher"]["params"] == teacher_parameters(teacher) and rows["teacher"]["teacher_pcc"] == pytest.approx(1.0)
    assert set(rows) == {"teacher", "labeled-only", "distilled"}  # teacher pruning is Distill-MOS's only
    first = json.loads((tmp_path / "out" / "labels" / "teacher.jsonl").read_text().splitlines()[0])
    wav, _ = load_audio(first["clip"], sample_rate=16000)
    assert first["label"] == pytest.approx(float(teacher.predict(torch.from_numpy(wav)[None])), abs=1e-5)
    assert result["latency"]["students"]["xxs"]["speedup"] > 0
    hinted = replace(config, train=replace(config.train, hint_weight=1.0))
    with pytest.raises(LeanspeechError, match="teacher.pt: not a leanspeech model file"):
        run_sqa_study(hinted, corpus, tmp_path / "hinted")
    assert not (tmp_path / "hinted" / "labels").exists()  # refused before any labelling

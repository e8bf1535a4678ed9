"""`study sqa-teacher`: XLS-R-SQA trained on labeled MOS manifests (bias-aware), on a tiny random wav2vec2."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from leanspeech.cli import main
from leanspeech.compress.teachers import XlsrSqaTeacher, load_teacher
from leanspeech.data.manifest import ManifestEntry, write_manifest
from leanspeech.errors import CorpusError, RecipeError
from leanspeech.studies import sqa_teacher_train
from leanspeech.studies.sqa_teacher_train import XlsrTeacherTraining, read_mos_manifests, train_xlsr_teacher

SPLITS = {"train": 8, "dev": 4, "test": 4}


def mos_dataset(folder: Path, name: str, offset: float, broken: int = 0) -> Path:
    """Clips of noise whose level sets the MOS; dataset `name` rates the same audio `offset` higher, as a
    stricter or milder panel would. `broken` train files are not audio."""
    entries = []
    generator = np.random.default_rng(0)  # the same audio in every dataset
    for split, count in SPLITS.items():
        for i in range(count):
            level = generator.uniform(0.01, 0.5)
            path = folder / name / f"{split}-{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            if split == "train" and i < broken:
                path.write_bytes(b"not audio")
            else:
                sf.write(path, (level * generator.standard_normal(4000)).astype(np.float32), 16000)
            entries.append(ManifestEntry(str(path.relative_to(folder)), "speech", split, f"s{i % 2}", name, 0.25,
                                         16000, extra={"mos": f"{min(5.0, 4.2 - 5 * level + offset):.3f}"}))
    return write_manifest(folder / f"{name}.csv", entries)


@pytest.fixture
def settings(tiny_wav2vec2) -> XlsrTeacherTraining:
    return XlsrTeacherTraining(wav2vec2=str(tiny_wav2vec2), layer=2, frames=12, steps=60, batch_size=4, lr=3e-2,
                               val_every=20)


def test_bias_aware_training_learns_each_panels_offset_and_saves_a_study_ready_teacher(settings, tmp_path):
    manifests = [mos_dataset(tmp_path, "strict", 0.0), mos_dataset(tmp_path, "mild", 1.0, broken=1)]
    teacher, metrics = train_xlsr_teacher(settings, manifests, tmp_path / "run")
    assert teacher.datasets == ["mild", "strict"]
    # Same audio, labels one point apart: only the datasets' shifts can tell them apart.
    shift = dict(zip(teacher.datasets, teacher.dataset_bias.shift.tolist()))
    assert shift["mild"] - shift["strict"] > 0.5
    assert [row["step"] for row in metrics["history"]] == [20, 40, 60]
    assert metrics["best_step"] in (20, 40, 60) and metrics["dev_mse"] == min(r["dev_mse"] for r in metrics["history"])
    assert metrics["clips"] == {"train": 15, "dev": 8, "test": 8} and metrics["failures"] == 1
    (failure,) = [json.loads(line) for line in (tmp_path / "run" / "failures.jsonl").read_text().splitlines()]
    assert failure["clip"].endswith("mild/train-0.wav")
    assert (tmp_path / "run" / "training.png").stat().st_size > 0
    assert [row["dataset"] for row in metrics["test"]] == ["mild", "strict"]
    assert teacher.universal.tolist() == pytest.approx([metrics["universal"]["scale"], metrics["universal"]["shift"]])
    # The file holds the head and biases only; the study loads it as its teacher, same scores.
    saved = torch.load(tmp_path / "run" / "teacher.pt", weights_only=True)
    assert not any(k.startswith("embedding.") for k in saved["state_dict"])
    loaded = load_teacher(tmp_path / "run" / "teacher.pt")
    assert isinstance(loaded, XlsrSqaTeacher) and loaded.datasets == teacher.datasets
    wav = 0.1 * torch.randn(2, 4000)
    torch.testing.assert_close(loaded.predict(wav), teacher.predict(wav))
    again, _ = train_xlsr_teacher(settings, manifests, tmp_path / "run")  # finished: reloaded, not retrained
    torch.testing.assert_close(again.predict(wav), teacher.predict(wav))
    with pytest.raises(RecipeError, match="made with other layer, lr"):  # its cached frames are of layer 2
        train_xlsr_teacher(dataclasses.replace(settings, layer=1, lr=1e-3), manifests, tmp_path / "run")


def test_killed_run_resumes_to_the_uninterrupted_result(settings, tmp_path, resumes_exactly):
    manifests = [mos_dataset(tmp_path, "a", 0.0), mos_dataset(tmp_path, "b", 0.5)]
    resumes_exactly(sqa_teacher_train, lambda folder: train_xlsr_teacher(settings, manifests, folder), at=20)


def test_trained_teacher_is_pruned_into_a_family_of_study_ready_teachers(settings, tmp_path):
    from leanspeech.compress.prune import prunable_weights

    manifests = [mos_dataset(tmp_path, "a", 0.0)]
    pruning = dataclasses.replace(settings, steps=4, val_every=2, prune_sparsities=(0.2,), prune_step_fraction=0.1,
                                  prune_finetune_steps=2, prune_lr=1e-3, prune_batch_size=4)
    teacher, metrics = train_xlsr_teacher(pruning, manifests, tmp_path / "run")
    (row,) = metrics["pruned"]
    assert row["sparsity"] == pytest.approx(0.2) and row["sparse_params"] < row["dense_params"]
    assert [r["dataset"] for r in row["test"]] == ["a"] and -1 <= row["test"][0]["pcc"] <= 1
    pruned = load_teacher(row["file"])
    weights = prunable_weights(pruned.embedding, exclude=(f"encoder.layers.{pruned.layer}.",))
    zeros = sum(int((getattr(m, n) == 0).sum()) for _, m, n in weights)
    assert zeros / sum(getattr(m, n).numel() for _, m, n in weights) == pytest.approx(0.2, abs=0.01)
    assert pruned.universal.tolist() == pytest.approx([row["universal"]["scale"], row["universal"]["shift"]])
    # The trained teacher itself is left dense, and a re-run reuses both.
    assert all(int((getattr(m, n) == 0).sum()) == 0 for _, m, n in prunable_weights(teacher.embedding))
    again, rerun = train_xlsr_teacher(pruning, manifests, tmp_path / "run")
    assert rerun["pruned"][0]["test"] == row["test"]


def test_cli_trains_from_a_recipe_with_overrides(settings, tmp_path, capsys):
    manifest = mos_dataset(tmp_path, "only", 0.0)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("layer: 2\nframes: 12\nbatch_size: 4\nlr: 0.01\n")
    assert main(["study", "sqa-teacher", "--recipe", str(recipe), "--wav2vec2", settings.wav2vec2, "--manifest",
                 str(manifest), "--out", str(tmp_path / "run"), "--steps", "4", "--val-every", "2"]) == 0
    printed = capsys.readouterr().out
    assert "kept step" in printed and "test only: 4 clips" in printed
    assert [r["step"] for r in json.loads((tmp_path / "run" / "metrics.json").read_text())["history"]] == [2, 4]


def test_bad_labels_and_unlearnable_dev_sets_fail_before_training(settings, tmp_path):
    manifest = mos_dataset(tmp_path, "a", 0.0)
    text = manifest.read_text().splitlines()
    text[1] = text[1].rsplit(",", 1)[0] + ",n/a"
    (tmp_path / "bad.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(CorpusError, match=r"bad.csv: .*train-0.wav has no numeric 'mos'"):
        read_mos_manifests([tmp_path / "bad.csv"])
    dev_only = tmp_path / "dev-only.csv"
    rows = [line for line in manifest.read_text().splitlines() if ",train," not in line]
    dev_only.write_text("\n".join(rows).replace(",a,", ",b,") + "\n")
    with pytest.raises(CorpusError, match=r"dev datasets \['b'\] have no train clips"):
        train_xlsr_teacher(settings, [manifest, dev_only], tmp_path / "run")
    with pytest.raises(Exception, match="needs `wav2vec2`"):
        train_xlsr_teacher(dataclasses.replace(settings, wav2vec2=""), [manifest], tmp_path / "run")

"""A killed VAD, enhancement, quality or SQA-student training run goes on from its last checkpoint
(progress.pt) and ends exactly where an uninterrupted run ends (the spoof study's: test_spoof_study.py)."""

from functools import partial

import pytest
import torch
from torch.utils.data import Dataset

from leanspeech.registry import MODELS
from leanspeech.studies import enhance_train, quality_train, sqa_train, vad_train
from leanspeech.studies.runs import train_or_reuse
from leanspeech.train.batches import endless_batches
from leanspeech.train.progress import CHECKPOINT_EVERY


class Mixtures(Dataset):
    """Item i of epoch e depends only on (e, i), like MixtureDataset."""

    def __init__(self):
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return 6

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(1000 * self.epoch + index)
        clean = 0.1 * torch.randn(4096, generator=generator)
        return {"clean": clean, "mixture": clean + 0.05 * torch.randn(4096, generator=generator),
                "labels": (torch.rand(17, generator=generator) > 0.5).float()}


def test_vad_run(resumes_exactly):
    def train(folder):
        torch.manual_seed(0)
        model = MODELS.build("dyn_crnn_vad", conv_channels=4, gru_hidden=4, min_fraction=0.5)
        settings = vad_train.TrainSettings(batch_size=2, width_lr=0.05)
        batches = partial(endless_batches, Mixtures(), 2, 0)
        return model, vad_train.train_run("v", model, batches, CHECKPOINT_EVERY + 5, folder, settings, beta=0.5)

    resumes_exactly(vad_train, train, at=CHECKPOINT_EVERY)


def test_enhancement_run(resumes_exactly):
    def train(folder):
        torch.manual_seed(0)
        model = MODELS.build("enhance_gru", hidden=8, num_layers=1)
        batches = partial(endless_batches, Mixtures(), 2, 0)
        return model, enhance_train.train_enhancer("e", model, batches, CHECKPOINT_EVERY + 5, 1e-3, folder)

    resumes_exactly(enhance_train, train, at=CHECKPOINT_EVERY)


def test_quality_run(resumes_exactly):
    from leanspeech.models.quality_cnn import QualityCNN

    generator = torch.Generator().manual_seed(0)
    data = torch.randn(6, 120, 60, generator=generator), torch.rand(6, generator=generator) + 1
    val = torch.randn(2, 120, 60, generator=generator), torch.rand(2, generator=generator) + 1
    settings = quality_train.TrainSettings(epochs=4, batch_size=4, crop_seconds=0.5)  # random crops: generator state

    def train(folder):
        return quality_train.fit_or_load(folder, QualityCNN, data, val, settings, seed=0, name="q")

    resumes_exactly(quality_train, train, at=2)


@pytest.mark.parametrize("hint_weight", [0.0, 1.0])
def test_sqa_student_run(resumes_exactly, hint_weight):
    from leanspeech.models.quality_student import QualityStudent

    generator = torch.Generator().manual_seed(0)
    hints = [torch.randn(30, 5, generator=generator).half() for _ in range(6)] if hint_weight else None
    pool = sqa_train.Pool([torch.randn(2, 161, 60, generator=generator) for _ in range(6)], torch.linspace(1, 4, 6),
                          ["a"] * 6, hints=hints)
    settings = sqa_train.StudentTraining(steps=6, val_every=2, window_seconds=0.4, lr_schedule="cosine",
                                         precise_bn_batches=1, hint_weight=hint_weight)

    def train(folder):
        def student(model, progress):
            draw = sqa_train.MixedBatches(pool, None, 0.0, 4, 10, torch.Generator().manual_seed(0), 40)
            return sqa_train.train_student(model, draw, pool, settings, seed=0, name="s", progress=progress)

        torch.manual_seed(0)
        return train_or_reuse(folder, lambda progress: student(QualityStudent("xxs"), progress))

    resumes_exactly(sqa_train, train, at=4)


def test_a_study_folder_from_before_a_new_setting_resumes(tmp_path):
    """study.json written before `train.loss_scale` existed: the setting's default is what that code did."""
    import json
    from dataclasses import asdict, replace

    from leanspeech.errors import RecipeError
    from leanspeech.studies.runs import check_same_record, check_same_study
    from leanspeech.studies.sqa import SqaStudyConfig

    config = SqaStudyConfig(sizes=("xs",))
    old = {"corpus": str(tmp_path.resolve()), **json.loads(json.dumps(asdict(config)))}
    del old["train"]["loss_scale"]
    (tmp_path / "study.json").write_text(json.dumps(old))
    check_same_study(tmp_path, tmp_path, config)
    logit = replace(config, train=replace(config.train, loss_scale="logit"))
    with pytest.raises(RecipeError, match="other train"):  # not what the old code did
        check_same_study(tmp_path, tmp_path, logit)
    with pytest.raises(RecipeError, match="other train"):  # without defaults a missing key is a difference
        check_same_record(tmp_path / "study.json", {"corpus": str(tmp_path.resolve()), **asdict(config)})
    with pytest.raises(RecipeError, match="other sizes"):  # keys the record has are compared as before
        check_same_study(tmp_path, tmp_path, replace(config, sizes=("s",)))


@pytest.mark.parametrize("study, changed, allowed", [
    ("vad", {"beta": 0.25}, {"peers": ()}),
    ("quality", {"model": {"input_mean": -8.0}}, {"seeds": 1}),
    ("enhance", {"lr": 1e-3}, {"percents": (50.0,)}),
])
def test_a_study_refuses_a_folder_made_with_another_recipe(tmp_path, study, changed, allowed):
    """Finished runs are reused by folder name, so a re-run with another recipe would mix models trained
    differently: refused before any work, unless only settings that add runs or peers changed."""
    from dataclasses import asdict, replace

    from leanspeech.errors import CorpusError, RecipeError
    from leanspeech.studies import enhance, quality, vad
    from leanspeech.studies.runs import write_study_record

    config_class, run = {"vad": (vad.VadStudyConfig, vad.run_vad_study),
                         "quality": (quality.QualityStudyConfig, quality.run_quality_study),
                         "enhance": (enhance.EnhanceStudyConfig, enhance.run_enhance_study)}[study]
    corpus, out = tmp_path / "corpus", tmp_path / "out"
    corpus.mkdir()
    out.mkdir()
    write_study_record(out, corpus, asdict(config_class()))
    record = (out / "study.json").read_text()
    with pytest.raises(RecipeError, match=f"other {next(iter(changed))}"):
        run(replace(config_class(), **changed), corpus, out)
    assert (out / "study.json").read_text() == record
    with pytest.raises(CorpusError, match="manifest"):  # past the check, the empty corpus stops it
        run(replace(config_class(), **allowed), corpus, out)

"""A killed VAD, enhancement, quality or SQA-student training run goes on from its last checkpoint
(progress.pt) and ends exactly where an uninterrupted run ends (the spoof study's: test_spoof_study.py)."""

from functools import partial

import pytest
import torch
from torch.utils.data import Dataset

from leanspeech.registry import MODELS
from leanspeech.studies import enhance_train, vad_train
from leanspeech.train.batches import endless_batches
from leanspeech.train.progress import CHECKPOINT_EVERY

STEPS = CHECKPOINT_EVERY + 5


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


def train_vad(folder):
    torch.manual_seed(0)
    model = MODELS.build("dyn_crnn_vad", conv_channels=4, gru_hidden=4, min_fraction=0.5)
    settings = vad_train.TrainSettings(batch_size=2, width_lr=0.05)
    batches = partial(endless_batches, Mixtures(), 2, 0)
    return model, vad_train.train_run("v", model, batches, STEPS, folder, settings, beta=0.5)


def train_enhancer(folder):
    torch.manual_seed(0)
    model = MODELS.build("enhance_gru", hidden=8, num_layers=1)
    batches = partial(endless_batches, Mixtures(), 2, 0)
    return model, enhance_train.train_enhancer("e", model, batches, STEPS, 1e-3, folder)


@pytest.mark.parametrize("module, train", [(vad_train, train_vad), (enhance_train, train_enhancer)],
                         ids=["vad", "enhance"])
def test_killed_run_resumes_to_the_uninterrupted_result(module, train, tmp_path, monkeypatch):
    whole_model, whole = train(tmp_path / "whole")
    assert not (tmp_path / "whole" / "progress.pt").exists()  # removed once the run is finished

    def killed(*args, **kwargs):
        save(*args, **kwargs)
        raise KeyboardInterrupt

    save = module.save_progress
    monkeypatch.setattr(module, "save_progress", killed)
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "killed")
    assert torch.load(tmp_path / "killed" / "progress.pt", weights_only=True)["step"] == CHECKPOINT_EVERY
    monkeypatch.setattr(module, "save_progress", save)
    resumed_model, resumed = train(tmp_path / "killed")

    assert {k: v for k, v in resumed.items() if k != "train_seconds"} == {
        k: v for k, v in whole.items() if k != "train_seconds"}
    for name, tensor in whole_model.state_dict().items():
        assert torch.equal(resumed_model.state_dict()[name], tensor), name


def test_killed_quality_run_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    from leanspeech.models.quality_cnn import QualityCNN
    from leanspeech.studies import quality_train

    generator = torch.Generator().manual_seed(0)
    train = torch.randn(6, 120, 60, generator=generator), torch.rand(6, generator=generator) + 1
    val = torch.randn(2, 120, 60, generator=generator), torch.rand(2, generator=generator) + 1
    settings = quality_train.TrainSettings(epochs=4, batch_size=4, crop_seconds=0.5)

    def fit(folder):
        return quality_train.fit_or_load(folder, QualityCNN, train, val, settings, seed=0, name="q")

    whole_model, whole = fit(tmp_path / "whole")
    save = quality_train.save_progress

    def killed_after_epoch_2(path, epoch, *args, **kwargs):
        save(path, epoch, *args, **kwargs)
        if epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(quality_train, "save_progress", killed_after_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        fit(tmp_path / "killed")
    monkeypatch.setattr(quality_train, "save_progress", save)
    resumed_model, resumed = fit(tmp_path / "killed")
    assert not (tmp_path / "killed" / "progress.pt").exists()
    assert resumed["history"] == whole["history"] and resumed["best_epoch"] == whole["best_epoch"]
    for name, tensor in whole_model.state_dict().items():
        assert torch.equal(resumed_model.state_dict()[name], tensor), name


def test_killed_sqa_student_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    from leanspeech.models.quality_student import QualityStudent
    from leanspeech.studies import sqa_train

    generator = torch.Generator().manual_seed(0)
    pool = sqa_train.Pool([torch.randn(2, 161, 60, generator=generator) for _ in range(6)], torch.linspace(1, 4, 6),
                          ["a"] * 6)
    settings = sqa_train.StudentTraining(steps=6, val_every=2, window_seconds=0.4, lr_schedule="cosine",
                                         precise_bn_batches=1)

    def fit(folder):
        def train(model, progress):
            draw = sqa_train.MixedBatches(pool, None, 0.0, 4, 10, torch.Generator().manual_seed(0), 40)
            return sqa_train.train_student(model, draw, pool, settings, seed=0, name="s", progress=progress)

        torch.manual_seed(0)
        return sqa_train.train_or_load(folder, lambda: QualityStudent("xxs"), train)

    whole_model, whole = fit(tmp_path / "whole")
    save = sqa_train.save_progress

    def killed_after_step_4(path, step, *args, **kwargs):
        save(path, step, *args, **kwargs)
        if step == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(sqa_train, "save_progress", killed_after_step_4)
    with pytest.raises(KeyboardInterrupt):
        fit(tmp_path / "killed")
    monkeypatch.setattr(sqa_train, "save_progress", save)
    resumed_model, resumed = fit(tmp_path / "killed")
    assert not (tmp_path / "killed" / "progress.pt").exists()
    assert {k: v for k, v in resumed.items() if k != "train_seconds"} == {
        k: v for k, v in whole.items() if k != "train_seconds"}
    for name, tensor in whole_model.state_dict().items():
        assert torch.equal(resumed_model.state_dict()[name], tensor), name

"""A killed VAD or enhancement training run goes on from its last checkpoint (progress.pt, every
CHECKPOINT_EVERY steps) and ends exactly where an uninterrupted run ends."""

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

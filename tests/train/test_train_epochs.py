"""An epoch-aware dataset (MixtureDataset) is told each epoch, also inside DataLoader worker processes."""

import lightning as L
from train_tiny_task import EpochAwareProblem  # noqa: F401  (registers test-epoch-aware)

from leanspeech.config import resolve_recipe
from leanspeech.train import train


class EpochsSeen(L.Callback):
    def __init__(self):
        self.seen = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.seen.append((trainer.current_epoch, set(batch["epoch"].tolist())))


def test_every_epoch_draws_with_its_own_epoch_in_the_workers(tmp_path):
    recipe = resolve_recipe({
        "model": {"name": "test-linear"},
        "data": {"name": "test-epoch-aware", "batch_size": 16, "num_workers": 1, "train": {"size": 32}, "val": None},
        "task": {"loss": "bce_with_logits", "monitor": "train/loss_epoch"},
        "optim": {"name": "adam", "lr": 0.01},
        "trainer": {"max_epochs": 3, "accelerator": "cpu", "devices": 1, "enable_progress_bar": False,
                    "enable_model_summary": False, "log_every_n_steps": 1},
        "run_dir": str(tmp_path / "run"),
    })
    seen = EpochsSeen()
    train(recipe, callbacks=[seen])
    assert [epoch for epoch, _ in seen.seen] == [0, 0, 1, 1, 2, 2]
    assert all(batch_epochs == {epoch} for epoch, batch_epochs in seen.seen)

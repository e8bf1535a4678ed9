"""Width learning through a recipe: width-penalty extra loss, width-projection callback, widths without decay."""

import copy
import csv

import lightning as L
import pytest
import torch

from leanspeech.compress.width import dynamic_widths, flop_weights
from leanspeech.config import apply_override, load_recipe, resolve_recipe
from leanspeech.errors import RecipeError
from leanspeech.models.base import SpeechModel
from leanspeech.models.io import load_model
from leanspeech.nn.dynamic import AdaptiveLinear, DynamicLinear
from leanspeech.registry import MODELS
from leanspeech.train import train
from leanspeech.train.width import waveform_flop_weights

import train_tiny_task  # noqa: F401  (registers the test-synthetic dataset)

MIN_FRACTION = 0.25
FIXED_UNTIL = 8


@MODELS.register("test-dyn-linear")
class TinyDynamic(SpeechModel):
    """x (B, 8) → DynamicLinear(16) → ReLU → AdaptiveLinear(1): one learnable width."""

    def __init__(self, in_features: int = 8, hidden: int = 16, min_fraction: float = MIN_FRACTION):
        super().__init__()
        self.first = DynamicLinear(in_features, hidden, min_fraction=min_fraction)
        self.head = AdaptiveLinear(self.first, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.first(x)))


BASE = {
    "model": {"name": "test-dyn-linear"},
    "data": {"name": "test-synthetic", "batch_size": 8, "train": {"seed": 0, "size": 64}, "val": {"seed": 1}},
    "task": {
        "loss": "bce_with_logits",
        "extra_losses": [{"name": "width-penalty", "beta": 20.0, "fixed_until": FIXED_UNTIL}],
    },
    "callbacks": [{"name": "width-projection"}],
    "optim": {"name": "adamw", "lr": 0.05, "weight_decay": 0.1},
    "trainer": {
        "max_epochs": 3,
        "accelerator": "cpu",
        "devices": 1,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "log_every_n_steps": 1,
    },
}


def make_recipe(tmp_path, *overrides):
    recipe = copy.deepcopy(BASE)
    recipe["run_dir"] = str(tmp_path / "run")
    for override in overrides:
        apply_override(recipe, override)
    return resolve_recipe(recipe)


class RecordWidths(L.Callback):
    """λ after each step (the recipe's callbacks run first, so after projection) and the optimiser groups."""

    def __init__(self):
        self.fractions, self.groups = [], []

    def on_train_start(self, trainer, pl_module):
        self.groups = [(g["weight_decay"], len(g["params"])) for g in trainer.optimizers[0].param_groups]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.fractions.append(pl_module.model.first.width.fraction.item())


def test_recipe_learns_widths_after_the_fixed_phase_and_writes_the_consolidated_model(tmp_path):
    record = RecordWidths()
    run_dir = train(make_recipe(tmp_path), callbacks=[record])

    assert record.groups == [(0.1, 4), (0.0, 1)]  # weights and biases with decay; the width without
    assert len(record.fractions) == 24
    assert record.fractions[:FIXED_UNTIL] == [1.0] * FIXED_UNTIL
    assert record.fractions[-1] < 0.9
    assert min(record.fractions) >= MIN_FRACTION

    with open(next((run_dir / "logs").glob("version_*/metrics.csv"))) as f:
        logged = [float(row["width/first"]) for row in csv.DictReader(f) if row.get("width/first")]
    assert logged == pytest.approx(record.fractions)

    dynamic, plain = load_model(run_dir / "model.pt").eval(), load_model(run_dir / "consolidated.pt").eval()
    assert not dynamic_widths(plain)
    live = dynamic.first.width.live_units()
    assert live < 16 and plain.first.out_features == live
    x = torch.randn(32, 8)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), dynamic(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("task.extra_losses.0.betta=1.0", "task.extra_losses.0.betta"),
        ("callbacks.0.consolidated=true", "callbacks.0.consolidated"),
    ],
)
def test_a_bad_key_in_the_width_sections_is_rejected_before_work_starts(tmp_path, override, message):
    with pytest.raises(RecipeError, match=message):
        make_recipe(tmp_path, override)
    assert not (tmp_path / "run").exists()


def test_a_model_without_widths_is_refused(tmp_path):
    recipe = make_recipe(tmp_path, "model.name=test-linear")
    with pytest.raises(RecipeError, match="no dynamic widths"):
        train(recipe)


def test_flop_weights_count_the_front_end_of_a_speech_model():
    model = MODELS.build("dyn_crnn_vad", n_mels=16, conv_channels=8, gru_hidden=8, n_fft=256, hop_length=128)
    from_features = flop_weights(model, model.example_input(1.0))
    from_waveform = waveform_flop_weights(model)
    assert set(from_waveform) == set(dynamic_widths(model))
    bands = next(name for name in from_waveform if name.startswith("frontend"))
    conv = next(name for name in from_waveform if name.startswith("conv"))
    assert from_waveform[conv] == pytest.approx(from_features[conv])  # the conv and GRU FLOPs, both ways
    assert from_waveform[bands] > from_features[bands]  # plus the learned mel bands themselves


@pytest.mark.slow
def test_example_recipe_trains_on_a_tiny_corpus(tmp_path):
    from leanspeech.data.corpus import build_corpus

    corpus = build_corpus(tmp_path / "corpus", minutes=0.3, workers=1).out
    recipe = load_recipe(
        "recipes/vad/train-dyn-crnn.yaml",
        [f"data.root={corpus}", f"run_dir={tmp_path / 'run'}", "trainer.max_steps=3", "trainer.max_epochs=1",
         "data.train.items_per_epoch=6", "data.val.items_per_epoch=4", "data.batch_size=2", "data.num_workers=0",
         "task.extra_losses.0.fixed_until=1", "trainer.enable_progress_bar=false"],
    )
    run_dir = train(recipe)
    dynamic, plain = load_model(run_dir / "model.pt").eval(), load_model(run_dir / "consolidated.pt").eval()
    wav = dynamic.example_wav(1.0, batch=2)
    with torch.no_grad():
        torch.testing.assert_close(plain.forward_wav(wav), dynamic.forward_wav(wav), atol=1e-5, rtol=0)

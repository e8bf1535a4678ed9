from dataclasses import replace

import pytest
import torch

from leanspeech.errors import LeanspeechError
from leanspeech.models.quality_cnn import QualityCNN
from leanspeech.studies.quality import QualityStudyConfig
from leanspeech.studies.quality_train import TrainSettings, fit, predict, recenter, training_batch


def test_crop_frames_follow_the_recipe_and_a_crop_longer_than_the_segment_is_refused():
    assert TrainSettings().crop_frames(449) == 449  # default: the whole segment, as in the paper
    assert TrainSettings(crop_seconds=2.0).crop_frames(449) == 100  # 50 frames per second
    with pytest.raises(LeanspeechError, match="crop_seconds"):
        TrainSettings(crop_seconds=9.5).crop_frames(449)


def test_the_paper_recipe_trains_on_whole_segments_and_the_small_one_on_crops():
    full = QualityStudyConfig.from_yaml("recipes/quality/full.yaml").train
    small = QualityStudyConfig.from_yaml("recipes/quality/small.yaml").train
    assert full.crop_seconds is None and not full.recenter
    assert small.crop_seconds is not None and small.recenter


def test_the_seeds_recipe_is_the_small_one_with_five_seeds():
    small = QualityStudyConfig.from_yaml("recipes/quality/small.yaml")
    seeds = QualityStudyConfig.from_yaml("recipes/quality/small-seeds.yaml")
    assert (small.seeds, seeds.seeds) == (1, 5)
    assert replace(seeds, seeds=1) == small


def test_training_batch_is_a_window_of_each_chosen_segment():
    features = torch.arange(4 * 3 * 20, dtype=torch.float32).reshape(4, 3, 20)
    index = torch.tensor([2, 0, 2])
    batch = training_batch(features, index, 7, torch.Generator().manual_seed(0))
    assert batch.shape == (3, 3, 7)
    for crop, i in zip(batch, index.tolist()):
        start = int(crop[0, 0] - features[i, 0, 0])
        assert 0 <= start <= 13 and torch.equal(crop, features[i, :, start:start + 7])
    assert torch.equal(training_batch(features, index, 20, torch.Generator()), features[index])


def test_fit_trains_on_crops_and_validates_on_whole_segments():
    torch.manual_seed(0)
    train = torch.randn(6, 120, 60), torch.rand(6) + 1
    val = torch.randn(2, 120, 60), torch.rand(2) + 1
    model = QualityCNN()
    seen = []
    model.register_forward_hook(lambda module, args, out: seen.append((module.training, args[0].shape[-1])))
    settings = TrainSettings(epochs=2, batch_size=4, crop_seconds=0.5)
    model, metrics = fit(model, train, val, settings, seed=0)
    assert {frames for training, frames in seen if training} == {25}
    assert {frames for training, frames in seen if not training} == {60}
    assert metrics["crop_frames"] == 25 and metrics["steps"] == 4
    assert all(p.is_contiguous() for p in model.parameters())  # trained channels_last, saved contiguous


def test_recenter_moves_every_prediction_by_the_mean_validation_residual():
    torch.manual_seed(0)
    model = QualityCNN().eval()
    val = torch.randn(3, 120, 40), torch.tensor([2.0, 3.0, 4.0])
    before = predict(model, val[0])
    shift = recenter(model, val)
    assert shift == pytest.approx(float((val[1] - before).mean()), abs=1e-5)
    assert torch.allclose(predict(model, val[0]), before + shift, atol=1e-5)
    assert float((val[1] - predict(model, val[0])).mean()) == pytest.approx(0, abs=1e-5)

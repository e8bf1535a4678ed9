"""Frame hints: the teacher's hidden frames, cached, cut under training windows, and learnt by a student."""

from __future__ import annotations

import pytest
import torch

from leanspeech.compress.frame_hints import FrameHintLoss, cached_teacher_frames, hint_teacher, hint_windows
from leanspeech.errors import LeanspeechError
from leanspeech.models.io import save_model
from leanspeech.models.quality_cnn import QualityCNN
from leanspeech.models.quality_student import QualityStudent
from leanspeech.studies.sqa_train import MixedBatches, Pool, StudentTraining, train_student


def test_hidden_frames_are_what_the_score_pools():
    torch.manual_seed(0)
    model = QualityStudent("xxs").eval()
    x = torch.randn(3, 2, 161, 41)
    hidden = model.hidden(x)
    assert hidden.shape == (3, 21, model.hidden_features)  # time stride 2 in the last block: ⌈41 / 2⌉
    assert torch.equal(model(x), model.head.mos(hidden))


def test_teacher_frames_are_cached_and_only_missing_clips_computed(tmp_path):
    torch.manual_seed(0)
    teacher = QualityStudent("xxs").eval()
    built = []

    def make_teacher():
        built.append(1)
        return teacher

    features = [torch.randn(2, 161, n) for n in (30, 44, 52)]
    frames = cached_teacher_frames(make_teacher, features[:2], ["a", "b"], tmp_path, chunk=1)
    assert [f.shape for f in frames] == [(15, 16), (22, 16)] and frames[0].dtype == torch.float16
    assert torch.allclose(frames[1].float(), teacher.hidden(features[1][None])[0], atol=1e-2)
    again = cached_teacher_frames(make_teacher, features[:2], ["a", "b"], tmp_path)
    assert len(built) == 1 and all(torch.equal(x, y) for x, y in zip(frames, again))  # all cached: no teacher built
    more = cached_teacher_frames(make_teacher, features, ["a", "b", "c"], tmp_path)
    assert len(built) == 2 and torch.equal(more[0], frames[0]) and more[2].shape == (26, 16)


def test_hint_teacher_needs_hidden_frames(tmp_path):
    path = save_model(QualityCNN(), tmp_path / "cnn.pt")
    with pytest.raises(LeanspeechError, match=r"cnn\.pt: QualityCNN has no hidden frames"):
        hint_teacher(path)


def test_hint_windows_follow_the_feature_windows():
    frames = [torch.arange(n, dtype=torch.float16)[:, None].expand(n, 3) for n in (20, 6)]  # frame t holds t
    targets, mask = hint_windows(frames, [0, 1, 0], [8, 4, 0], window=10)
    assert targets.shape == (3, 5, 3)
    assert targets[0, :, 0].tolist() == [4, 5, 6, 7, 8]  # feature frame 8 is hidden frame 4
    assert targets[1, :, 0].tolist() == [2, 3, 4, 5, 0, 0][:5] and mask[1].tolist() == [True] * 4 + [False]
    assert mask[0].all() and mask[2].all()


def test_batches_carry_hints_where_a_pool_has_them():
    generator = torch.Generator().manual_seed(0)
    features = [torch.randn(2, 161, 50, generator=generator) for _ in range(4)]
    hinted = Pool(features, torch.full((4,), 3.0), ["u"] * 4, hints=[torch.randn(25, 7).half() for _ in range(4)])
    plain = Pool(features, torch.full((4,), 2.0), ["l"] * 4)
    windows, targets, hint_targets, mask = MixedBatches(hinted, plain, 0.5, 6, 10, generator, 20)()
    assert windows.shape == (6, 2, 161, 20) and hint_targets.shape == (6, 10, 7)
    assert mask[:3].sum() == 0 and mask[3:].all()  # labeled rows first, without hints
    assert targets.tolist() == [2.0] * 3 + [3.0] * 3


def test_training_with_hints_pulls_the_student_towards_the_teachers_frames(monkeypatch):
    torch.manual_seed(0)
    teacher = QualityStudent("xxs").eval()
    features = [torch.randn(2, 161, 30) for _ in range(8)]
    with torch.no_grad():
        hints = [teacher.hidden(f[None])[0].half() for f in features]
    pool = Pool(features, torch.full((8,), 3.0), ["u"] * 8, hints=hints)
    seen: list[float] = []
    forward = FrameHintLoss.forward

    def recording(self, *args):
        loss = forward(self, *args)
        seen.append(loss.item())
        return loss

    monkeypatch.setattr(FrameHintLoss, "forward", recording)
    settings = StudentTraining(steps=40, val_every=40, window_seconds=0.2, lr=0.01, precise_bn_batches=0,
                               hint_weight=1.0)
    draw = MixedBatches(pool, None, 0.0, 4, 10, torch.Generator().manual_seed(0), 20)
    _, metrics = train_student(QualityStudent("xxs"), draw, pool, settings, seed=0, name="hints")
    assert len(seen) == 40 and sum(seen[-10:]) < 0.6 * sum(seen[:10])
    assert metrics["history"][-1]["train_hint_mse"] == pytest.approx(sum(seen) / 40)  # the score's MSE kept apart


def test_hint_settings_are_checked():
    with pytest.raises(ValueError, match="hint_weight"):
        StudentTraining(hint_weight=-1.0)
    with pytest.raises(ValueError, match="multiple of 2 frames"):
        StudentTraining(hint_weight=1.0, window_seconds=0.25)

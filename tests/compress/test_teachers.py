"""Teachers behind one interface, the XLS-R-SQA design on a tiny random wav2vec2, and pseudo-labelling."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import soundfile as sf
import torch

from leanspeech.compress.prune import PruneConfig, load_checkpoint_state, prunable_weights
from leanspeech.compress.teachers import (
    ModelTeacher,
    XlsrSqaTeacher,
    center_crop,
    grid_search_scale_shift,
    load_teacher,
    pseudo_label,
    teacher_parameters,
)
from leanspeech.errors import LeanspeechError
from leanspeech.models.quality_student import QualityHead, QualityStudent


def test_xls_r_sqa_uses_hidden_state_of_layer(tiny_wav2vec2):
    from transformers import Wav2Vec2Model

    teacher = XlsrSqaTeacher(tiny_wav2vec2, layer=1, frames=20).eval()
    full = Wav2Vec2Model.from_pretrained(str(tiny_wav2vec2), local_files_only=True).eval()
    wav = 0.1 * torch.randn(2, 1600, generator=torch.Generator().manual_seed(1))
    normalised = (wav - wav.mean(-1, keepdim=True)) / torch.sqrt(wav.var(-1, keepdim=True, unbiased=False) + 1e-7)
    with torch.no_grad():
        expected = full(normalised, output_hidden_states=True).hidden_states[1]
        features = teacher.features(wav)
    assert len(teacher.embedding.encoder.layers) == 2  # truncated after the layer it reads
    torch.testing.assert_close(features, center_crop(expected, 20))
    mos = teacher.predict(wav)
    assert mos.shape == (2,) and bool(((mos > 1) & (mos < 5)).all())


def test_xls_r_sqa_bias_aware_logits_and_universal_grid(tiny_wav2vec2):
    teacher = XlsrSqaTeacher(tiny_wav2vec2, layer=2, n_datasets=3, frames=20).eval()
    wav = 0.1 * torch.randn(3, 1600, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        teacher.dataset_bias.scale.copy_(torch.tensor([1.0, 2.0, 0.5]))
        teacher.dataset_bias.shift.copy_(torch.tensor([0.0, -1.0, 0.3]))
        raw = teacher.head.logits(teacher.features(wav))
        biased = teacher.logits(wav, torch.tensor([0, 1, 2]))
    torch.testing.assert_close(biased, torch.tensor([1.0, 2.0, 0.5]) * raw + torch.tensor([0.0, -1.0, 0.3]))
    mos = 1 + 4 * torch.sigmoid(1.25 * raw - 0.5)
    scale, shift, mse = teacher.set_universal(raw, mos)
    assert (scale, shift) == pytest.approx((1.25, -0.5)) and mse < 1e-10
    with torch.no_grad():
        torch.testing.assert_close(teacher(wav), mos)


def test_xls_r_sqa_head_matches_published_head_size():
    xls = pytest.importorskip("xls_r_sqa.config")
    from xls_r_sqa.sqa_model import SingleLayerModel

    reference = SingleLayerModel(xls.XLSR_300M_TRANSFORMER_32DEEP_CONFIG)
    ours = QualityHead(1024, 32, 4, 4)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in reference.parameters())


def test_xls_r_sqa_prunes_its_embedding_model_and_leaves_the_head_dense(tiny_wav2vec2, tmp_path):
    torch.manual_seed(0)
    teacher = XlsrSqaTeacher(tiny_wav2vec2, layer=2, n_datasets=2, frames=20)
    head_before = copy.deepcopy(teacher.head.state_dict())
    generator = torch.Generator().manual_seed(3)
    batches = [(0.1 * torch.randn(4, 1600, generator=generator), torch.tensor([0, 1, 0, 1]),
                1 + 4 * torch.rand(4, generator=generator))
               for _ in range(3)]
    config = PruneConfig(step_fraction=0.1, finetune_steps=2, sparsities=(0.2,), lr=1e-3)
    (point,) = teacher.prune_embedding(batches, config, tmp_path, progress=False)
    # Hidden state 2 is the input of kept layer 2: that layer, the head and the dataset biases stay dense.
    pruned = prunable_weights(teacher, exclude=("head.", "dataset_bias.", "embedding.encoder.layers.2."))
    assert {name.split(".")[0] for name, _, _ in pruned} == {"embedding"}
    zeros = sum(int((getattr(m, n) == 0).sum()) for _, m, n in pruned)
    assert zeros / sum(getattr(m, n).numel() for _, m, n in pruned) == pytest.approx(0.2, abs=0.01)
    dense = [getattr(m, n) for name, m, n in prunable_weights(teacher) if (name, m, n) not in pruned]
    assert dense and all(int((w == 0).sum()) == 0 for w in dense)
    assert any(not torch.equal(w, head_before[k]) for k, w in teacher.head.state_dict().items())  # the head is fine-tuned
    fresh = XlsrSqaTeacher(tiny_wav2vec2, layer=2, n_datasets=2, frames=20)
    fresh.load_state_dict(load_checkpoint_state(point.path))
    wav = batches[0][0]
    torch.testing.assert_close(fresh.predict(wav), teacher.predict(wav))


def test_saved_xls_r_sqa_teacher_reloads_with_or_without_its_embedding(tiny_wav2vec2, tmp_path):
    torch.manual_seed(0)
    teacher = XlsrSqaTeacher(tiny_wav2vec2, layer=2, n_datasets=2, frames=20)
    teacher.datasets = ["a", "b"]
    with torch.no_grad():
        teacher.universal.copy_(torch.tensor([1.5, -0.25]))
        teacher.embedding.feature_projection.projection.weight.mul_(0.5)  # as a pruned or fine-tuned embedding
    wav = 0.1 * torch.randn(2, 1600)
    head_only = load_teacher(teacher.save(tmp_path / "head.pt"))
    whole = load_teacher(teacher.save(tmp_path / "whole.pt", with_embedding=True))
    assert isinstance(whole, XlsrSqaTeacher) and whole.datasets == ["a", "b"] and whole.layer == 2
    torch.testing.assert_close(whole.predict(wav), teacher.predict(wav))
    # Without its embedding weights the file takes them from the wav2vec2 directory, as trained (unchanged).
    assert not torch.equal(head_only.predict(wav), teacher.predict(wav))
    assert torch.equal(head_only.universal, teacher.universal)
    assert teacher_parameters(whole) == sum(p.numel() for p in teacher.parameters())


def test_load_teacher_tells_students_from_xls_r_teachers_and_refuses_other_files(tmp_path):
    from leanspeech.models.io import save_model

    student = save_model(QualityStudent(size="xxs"), tmp_path / "student.pt")
    assert isinstance(load_teacher(student), ModelTeacher)
    assert teacher_parameters(load_teacher(student)) == sum(p.numel() for p in QualityStudent("xxs").parameters())
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    with pytest.raises(LeanspeechError, match="notes.pt: not a loadable teacher file"):
        load_teacher(tmp_path / "notes.pt")
    with pytest.raises(LeanspeechError, match="missing.pt: teacher file does not exist"):
        load_teacher(tmp_path / "missing.pt")


def test_grid_search_recovers_scale_and_shift():
    logits = torch.linspace(-3, 3, 50)
    mos = 1 + 4 * torch.sigmoid(0.75 * logits + 0.5)
    scale, shift, mse = grid_search_scale_shift(logits, mos)
    assert (scale, shift) == pytest.approx((0.75, 0.5)) and mse < 1e-10


def test_bad_model_directories_fail_before_any_work(tmp_path, tiny_wav2vec2):
    with pytest.raises(LeanspeechError, match="does not exist"):
        XlsrSqaTeacher(tmp_path / "missing")
    other = tmp_path / "bert"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(LeanspeechError, match="not wav2vec2"):
        XlsrSqaTeacher(other)
    with pytest.raises(LeanspeechError, match="layer 9 outside"):
        XlsrSqaTeacher(tiny_wav2vec2, layer=9)


class FlakyTeacher:
    """Fails on clips whose first sample is negative, like a teacher that crashes on some input."""

    name = "flaky"

    def predict(self, wavs: torch.Tensor) -> torch.Tensor:
        if bool((wavs[:, 0] < 0).any()):
            raise RuntimeError("cannot score this clip")
        return 1 + wavs.abs().mean(-1)


def test_pseudo_label_skips_failing_and_unreadable_clips(tmp_path, caplog):
    good = tmp_path / "good.wav"
    sf.write(good, np.full(1600, 0.5, dtype=np.float32), 16000)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio")
    clips = [("a", np.full(800, 0.2)), ("bad", np.full(800, -0.2)), ("c", np.full(800, 0.4)), good, broken]
    result = pseudo_label(FlakyTeacher(), clips, batch_size=4, progress=False)
    assert result.labels == pytest.approx({"a": 1.2, "c": 1.4, str(good): 1.5})
    assert [name for name, _ in result.failures] == ["bad", str(broken)]
    assert "2 clip(s) skipped" in caplog.text


def test_model_teacher_wraps_a_leanspeech_quality_model(tmp_path):
    from leanspeech.models.io import save_model

    student = QualityStudent(size="xxs").eval()
    path = save_model(student, tmp_path / "student.pt")
    wav = 0.1 * torch.randn(2, 8000)
    with torch.no_grad():
        torch.testing.assert_close(ModelTeacher(path).predict(wav), student.forward_wav(wav))

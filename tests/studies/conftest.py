"""Shared fixtures of the study tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """A 0.3-minute corpus (all splits, speech, noise, RIRs): enough for end-to-end VAD runs in seconds."""
    from leanspeech.data.corpus import build_corpus

    out = tmp_path_factory.mktemp("tiny-corpus")
    build_corpus(out, minutes=0.3, progress=False)
    return out


@pytest.fixture
def resumes_exactly(monkeypatch, tmp_path):
    """check(module, train, at): `train(folder) -> (model, metrics)` run whole, and run again killed right
    after its checkpoint of step (or epoch) `at` (`module.save_progress` raising) and re-run; both must end
    with the same weights and metrics (time aside), and neither may leave its progress.pt behind."""
    import torch

    def check(module, train, at: int) -> None:
        whole_model, whole = train(tmp_path / "whole")
        save = module.save_progress

        def killed(path, step, *args, **kwargs):
            save(path, step, *args, **kwargs)
            if step == at:
                raise KeyboardInterrupt

        with monkeypatch.context() as patch:
            patch.setattr(module, "save_progress", killed)
            with pytest.raises(KeyboardInterrupt):
                train(tmp_path / "killed")
        assert torch.load(tmp_path / "killed" / "progress.pt", weights_only=True)["step"] == at
        assert not (tmp_path / "killed" / "metrics.json").exists()
        resumed_model, resumed = train(tmp_path / "killed")
        for folder in ("whole", "killed"):
            assert not (tmp_path / folder / "progress.pt").exists()
        assert {k: v for k, v in resumed.items() if k != "train_seconds"} == {
            k: v for k, v in whole.items() if k != "train_seconds"}
        for name, tensor in whole_model.state_dict().items():
            assert torch.equal(resumed_model.state_dict()[name], tensor), name

    return check

import importlib.util
import sys

import numpy as np
import pytest
import torch

import leanspeech.peers  # noqa: F401  (registers the peers)
from leanspeech.errors import AudioError
from leanspeech.registry import PEERS

RATE = 16000


@pytest.fixture(scope="module")
def dnsmos():
    pytest.importorskip("speechmos")
    return PEERS.build("dnsmos")


@pytest.fixture(scope="module")
def distill():
    # Not importorskip: distillmos imports torchaudio, which the peer replaces by a stand-in.
    if importlib.util.find_spec("distillmos") is None:
        pytest.skip("distillmos is not installed")
    return PEERS.build("distill-mos")


@pytest.mark.slow  # speechmos's first call compiles librosa's mel code with numba
def test_dnsmos_scores_clean_speech_above_heavily_noisy_speech(scene, dnsmos):
    clean, noisy = dnsmos.score_batch([scene.clean, scene.noisy(0)], RATE, progress=False)
    assert set(clean) == {"sig", "bak", "ovrl", "p808"}
    assert all(1.0 <= value <= 5.0 for value in clean.values())
    assert clean["ovrl"] > noisy["ovrl"] + 0.5
    assert clean["bak"] > noisy["bak"] + 1.0
    assert clean["p808"] > noisy["p808"] + 0.5
    assert dnsmos.score(scene.clean, RATE) == pytest.approx(clean)


def test_dnsmos_refuses_audio_outside_full_scale(dnsmos):
    with pytest.raises(AudioError, match=r"\[-1, 1\]"):
        dnsmos.score(np.full(RATE, 2.0, np.float32), RATE)


def test_distill_mos_is_the_published_size_and_leaves_torchaudio_out(distill):
    assert distill.parameter_count() == pytest.approx(4.13e6, rel=0.005)
    assert "torchaudio" not in sys.modules
    from distillmos import sqa

    with pytest.raises(AttributeError, match="soundfile"):
        sqa.torchaudio.load("any.wav")


@pytest.mark.slow  # six 7.68 s crops through a 4 M-parameter CNN + transformer through a 4 M-parameter CNN + transformer
def test_distill_mos_ranks_clean_above_noisy_and_matches_its_own_forward(scene, distill):
    long_clip = np.concatenate([scene.clean, scene.noisy(10)])[:130880]  # 8000 samples over one crop
    crops = distill.crops(long_clip, RATE).numpy()
    np.testing.assert_array_equal(crops, [long_clip[:122880], long_clip[8000:]])
    clean, noisy, long_score = distill.score_batch([scene.clean, scene.noisy(0), long_clip], RATE, progress=False)
    assert 1.0 <= noisy < clean <= 5.0 and clean > noisy + 1.0
    padded = np.pad(scene.clean, (0, 122880 - len(scene.clean)))  # 5.1 s: one zero-padded crop
    np.testing.assert_array_equal(distill.crops(scene.clean, RATE).numpy(), [padded])
    # The package's own forward (its segmenting and crop averaging) is the reference.
    distill.model.segmenting_in_forward = True
    try:
        with torch.no_grad():
            reference = distill.model(torch.from_numpy(long_clip)[None]).item()
    finally:
        distill.model.segmenting_in_forward = False
    assert long_score == pytest.approx(reference, abs=1e-4)

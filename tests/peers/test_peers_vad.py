import numpy as np
import pytest
import torch

from leanspeech.audio.resample import resample
from leanspeech.peers.silero import SileroVad
from leanspeech.peers.webrtc import WebRtcVad
from leanspeech.registry import PEERS

HOP = 256
RATE = 16000


def n_frames_of(wav):
    return len(wav) // HOP + 1


@pytest.fixture(scope="module")
def silero():
    pytest.importorskip("silero_vad")
    return SileroVad(backend="onnx")


def test_silero_scores_speech_above_silence_and_noise(scene, silero):
    for wav in (scene.clean, scene.noisy(20)):
        n = n_frames_of(wav)
        scores = silero.frame_probabilities(wav, RATE, HOP, n)
        speech, silence = scene.masks(HOP, n)
        assert scores.shape == (n,)
        assert scores[speech].mean() > 0.8 and scores[silence].mean() < 0.2


def test_silero_onset_lands_on_the_speech_onset(scene, silero):
    # An alignment error of a chunk or more would move the first confident frame away from the onset.
    n = n_frames_of(scene.clean)
    scores = silero.frame_probabilities(scene.clean, RATE, HOP, n)
    first = np.flatnonzero(scores > 0.5)[0] * HOP
    assert abs(first - scene.speech_start) <= 0.1 * RATE


def test_silero_jit_and_onnx_agree(scene, silero):
    wav = scene.noisy(20)
    np.testing.assert_allclose(
        SileroVad(backend="jit").chunk_probabilities(wav, RATE), silero.chunk_probabilities(wav, RATE), atol=1e-4
    )


def test_silero_grid_is_the_same_in_time_at_8k(scene, silero):
    # Hop 128 at 8 kHz is the same 16 ms grid as hop 256 at 16 kHz: the scores must line up.
    n = n_frames_of(scene.clean)
    at_16k = silero.frame_probabilities(scene.clean, RATE, HOP, n)
    at_8k = silero.frame_probabilities(resample(scene.clean, RATE, 8000), 8000, HOP // 2, n)
    assert np.mean(np.abs(at_16k - at_8k)) < 0.005  # a one-frame shift gives ≈ 0.009


def test_silero_import_leaves_torch_threads_alone():
    threads = torch.get_num_threads()
    SileroVad(backend="jit")
    assert torch.get_num_threads() == threads


def test_silero_cost_matches_its_published_architecture(silero):
    cost = silero.cost()
    # 16 kHz chunk of 512 + 64 context, reflect pad 64 → 640 samples; STFT conv k 256, stride 128 → 4 steps.
    stft = 258 * 256 * 4
    convs = 128 * 129 * 3 * 4 + 64 * 128 * 3 * 2 + 64 * 64 * 3 * 1 + 128 * 64 * 3 * 1
    lstm = 4 * 128 * (128 + 128)
    head = 128
    assert cost.macs_per_chunk == stft + convs + lstm + head
    assert cost.macs_per_second == pytest.approx(cost.macs_per_chunk * RATE / 512)
    learned = (128 * 129 * 3 + 128) + (64 * 128 * 3 + 64) + (64 * 64 * 3 + 64) + (128 * 64 * 3 + 128)
    learned += 2 * 4 * 128 * 128 + 2 * 4 * 128 + 128 + 1
    assert cost.params == learned and cost.stft_basis == 258 * 256
    assert cost.params + cost.stft_basis == pytest.approx(309e3, rel=0.01)  # reference-details: ≈309 k


def test_short_input_still_gets_a_score(silero):
    assert silero.frame_probabilities(np.zeros(100, np.float32), RATE, HOP, 1).shape == (1,)


@pytest.fixture(scope="module")
def webrtc():
    pytest.importorskip("webrtcvad")
    return WebRtcVad(mode=0)


def test_webrtc_operating_points_separate_speech_from_silence(scene, webrtc):
    wav = scene.noisy(20)
    n = n_frames_of(wav)
    speech, silence = scene.masks(HOP, n)
    points = webrtc.operating_points(wav, RATE, HOP, n)
    assert sorted(points) == [0, 1, 2, 3]
    for mode, decided in points.items():
        assert set(np.unique(decided)) <= {0.0, 1.0}
        assert decided[speech].mean() > 0.8, mode
    false_alarms = [points[mode][silence].mean() for mode in range(4)]
    assert false_alarms[3] < 0.1 and false_alarms[3] <= false_alarms[0]
    np.testing.assert_array_equal(webrtc.frame_probabilities(wav, RATE, HOP, n), points[0])


def test_webrtc_runs_8k_natively_and_aligns(scene, webrtc):
    at_8k = resample(scene.clean, RATE, 8000)
    decided, frame_length, rate = webrtc.decisions(at_8k, 8000)
    assert (frame_length, rate) == (80, 8000) and len(decided) == -(-len(at_8k) // 80)
    n = n_frames_of(at_8k) // 2
    scores = webrtc.frame_probabilities(at_8k, 8000, HOP // 2, n, mode=3)
    first = np.flatnonzero(scores > 0.5)[0] * HOP  # in 16 kHz samples
    assert abs(first - scene.speech_start) <= 0.1 * RATE


def test_webrtc_rejects_bad_settings():
    pytest.importorskip("webrtcvad")
    with pytest.raises(ValueError, match="mode"):
        PEERS.build("webrtc-vad", mode=4)
    with pytest.raises(ValueError, match="10, 20 or 30"):
        PEERS.build("webrtc-vad", frame_ms=15)

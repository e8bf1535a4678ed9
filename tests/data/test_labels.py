import numpy as np
import pytest
import torch

from leanspeech.data.labels import LabelConfig, frame_rms, speech_presence
from leanspeech.errors import RecipeError

RATE = 16000


def tone_with_gaps(amplitude=0.5):
    """Silence 0-1 s, tone 1-2 s, silence 2-3 s, tone 3-3.5 s, silence to 4 s (64,000 samples)."""
    wav = np.zeros(4 * RATE, dtype=np.float32)
    t = np.arange(4 * RATE) / RATE
    tone = (amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    wav[16000:32000] = tone[16000:32000]
    wav[48000:56000] = tone[48000:56000]
    return wav


def expected_frames(hangover=0):
    # a centred 1024-sample frame f spans [256 f - 512, 256 f + 512); any overlap with a tone is above
    # -40 dB re the loudest frame (1 sample of 1024 is -30 dB): frames 61-126 and 186-220 touch the tones
    labels = np.zeros(251, dtype=np.float32)
    labels[61:127 + hangover] = 1
    labels[186:221 + hangover] = 1
    return labels


def test_frame_rms_matches_a_brute_force_frame_loop():
    wav = np.random.default_rng(0).standard_normal(5000).astype(np.float32)
    for center in (True, False):
        padded = np.pad(wav.astype(np.float64), 256) if center else wav.astype(np.float64)
        brute = [np.sqrt(np.mean(padded[s:s + 512] ** 2)) for s in range(0, len(padded) - 512 + 1, 128)]
        np.testing.assert_allclose(frame_rms(wav, 512, 128, center), brute, rtol=1e-9, atol=1e-12)


def test_frame_count_matches_torch_stft():
    config = LabelConfig(n_fft=1024, hop_length=256)
    for length in (1000, 16000, 64123):
        stft = torch.stft(torch.zeros(length), 1024, 256, window=torch.hann_window(1024), center=True,
                          return_complex=True)
        assert config.num_frames(length) == stft.shape[-1] == len(speech_presence(np.zeros(length), config))


def test_speech_segments_are_found_where_they_are():
    labels = speech_presence(tone_with_gaps(), LabelConfig(n_fft=1024, hop_length=256, threshold_db=-40))
    np.testing.assert_array_equal(labels, expected_frames())


def test_hangover_extends_each_segment():
    labels = speech_presence(tone_with_gaps(), LabelConfig(hangover_frames=3))
    np.testing.assert_array_equal(labels, expected_frames(hangover=3))


def test_median_smoothing_removes_a_one_frame_click():
    wav = tone_with_gaps()
    wav[40000:40010] = 0.9  # a click in the silence, seen by the 4 frames 155-158 (-12 dB re the tone)
    labels = speech_presence(wav, LabelConfig(threshold_db=-30))
    np.testing.assert_array_equal(np.flatnonzero(labels[130:180]) + 130, [155, 156, 157, 158])
    np.testing.assert_array_equal(speech_presence(wav, LabelConfig(threshold_db=-30, smooth_frames=9)),
                                  expected_frames())


def test_absolute_threshold_ignores_quiet_speech_and_silence_is_never_speech():
    quiet = tone_with_gaps(amplitude=10 ** (-50 / 20) * np.sqrt(2))  # tone RMS -50 dBFS
    np.testing.assert_array_equal(speech_presence(quiet, LabelConfig(relative=True)), expected_frames())
    assert speech_presence(quiet, LabelConfig(relative=False, threshold_db=-40)).sum() == 0
    # at -55 dBFS a frame needs > 10^(-0.5) of its 1024 samples on the tone: the 4 edge frames drop out
    near = expected_frames()
    near[[61, 126, 186, 220]] = 0
    np.testing.assert_array_equal(speech_presence(quiet, LabelConfig(relative=False, threshold_db=-55)), near)
    assert speech_presence(np.zeros(RATE), LabelConfig()).sum() == 0
    room_tone = 10 ** (-80 / 20) * np.random.default_rng(0).standard_normal(RATE)  # -80 dBFS
    assert speech_presence(room_tone, LabelConfig()).sum() == 0
    assert speech_presence(room_tone, LabelConfig(floor_dbfs=-90)).sum() == LabelConfig().num_frames(RATE)


def test_label_config_rejects_unknown_keys():
    with pytest.raises(RecipeError, match="unknown key 'hop'"):
        LabelConfig.from_dict({"hop": 160})
    with pytest.raises(RecipeError, match="smooth_frames odd"):
        LabelConfig(smooth_frames=4)


@pytest.mark.parametrize("n_fft, hop", [(400, 160), (1024, 256), (320, 320), (7, 3)])
def test_frame_rms_matches_brute_force_for_any_frame_and_hop(n_fft, hop):
    wav = np.random.default_rng(1).standard_normal(3001).astype(np.float32)
    padded = np.pad(wav.astype(np.float64), n_fft // 2)
    brute = [np.sqrt(np.mean(padded[s:s + n_fft] ** 2)) for s in range(0, len(padded) - n_fft + 1, hop)]
    np.testing.assert_allclose(frame_rms(wav, n_fft, hop), brute, rtol=1e-9, atol=1e-12)

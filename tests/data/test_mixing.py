import numpy as np
import pytest
import scipy.signal

from leanspeech.data import degrade
from leanspeech.data.mixing import Mixer, MixingConfig, mixing_rng
from leanspeech.data.pools import NoisePool, RirPool
from leanspeech.errors import RecipeError

RATE = 16000


def speech_like(seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    voiced = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 20))
    return (0.1 * voiced * (1 + np.sin(2 * np.pi * 3 * t)) + 0.001 * rng.standard_normal(len(t))).astype(np.float32)


def decaying_rir(rt60, seed=0, delay=40, seconds=None):
    rng = np.random.default_rng(seed)
    n = int((seconds or 1.2 * rt60) * RATE)
    tail = rng.standard_normal(n) * np.exp(-6.908 * np.arange(n) / RATE / rt60)  # 60 dB energy decay in rt60
    rir = np.concatenate([np.zeros(delay), [8.0], 0.3 * tail]).astype(np.float32)
    return rir


def config(**kw):
    base = dict(reverb_prob=0.0, noise_prob=0.0, lowpass_prob=0.0, telephone_prob=0.0)
    return MixingConfig(**{**base, **kw})


def test_config_from_recipe_names_unknown_keys_and_checks_values():
    c = MixingConfig.from_dict({"snr_range": [0, 5], "noise_prob": 0.5})
    assert c.snr_range == (0, 5) and c.noise_prob == 0.5
    with pytest.raises(RecipeError, match="unknown key 'snr_rnage'"):
        MixingConfig.from_dict({"snr_rnage": [0, 5]})
    with pytest.raises(RecipeError, match="reverb_prob = 1.5"):
        MixingConfig.from_dict({"reverb_prob": 1.5})
    with pytest.raises(RecipeError, match="snr_range"):
        MixingConfig.from_dict({"snr_range": [10, 0]})
    with pytest.raises(RecipeError, match="target"):
        MixingConfig.from_dict({"target": "wet"})
    with pytest.raises(RecipeError, match="noise_prob must be a number, got 'high'"):
        MixingConfig.from_dict({"noise_prob": "high"})
    with pytest.raises(RecipeError, match="gain_db_range must be a list of 2 numbers"):
        MixingConfig.from_dict({"gain_db_range": [1, 2, 3]})
    with pytest.raises(RecipeError, match="avoid_clipping must be true or false"):
        MixingConfig.from_dict({"avoid_clipping": "yes"})
    assert MixingConfig.from_dict({"snr_mean": 5}).snr_mean == 5.0


def test_empty_pools_are_recipe_errors():
    with pytest.raises(RecipeError, match="noise pool is empty"):
        Mixer(config(noise_prob=0.5))
    rirs = RirPool.from_arrays([decaying_rir(0.3)], RATE, rt60=[0.3])
    with pytest.raises(RecipeError, match=r"no RIR has an RT60 in rt60_range \[0.5, 1.0\]"):
        Mixer(config(reverb_prob=1.0, rt60_range=(0.5, 1.0)), rirs=rirs)


def test_noise_is_added_at_the_drawn_snr():
    speech = speech_like()
    noise = np.random.default_rng(1).standard_normal(3000).astype(np.float32)
    mixer = Mixer(config(noise_prob=1.0, snr_range=(7.0, 7.0)), NoisePool.from_arrays([noise]))
    out = mixer.mix(speech, mixing_rng(0, 0, 0))
    added = out.mixture - speech
    snr = 10 * np.log10(np.mean(speech.astype(np.float64) ** 2) / np.mean(added.astype(np.float64) ** 2))
    assert out.meta["snr"] == 7.0 and snr == pytest.approx(7.0, abs=1e-3)
    np.testing.assert_array_equal(out.target, speech)
    # the added noise is the pool's clip looped from one start and scaled: find that start by brute force
    looped = [np.resize(np.roll(noise, -s), len(speech)) for s in range(len(noise))]
    matches = [s for s, seg in enumerate(looped) if abs(np.corrcoef(seg, added)[0, 1]) > 1 - 1e-6]
    assert len(matches) == 1


def test_noise_segment_loops_like_modular_indexing():
    noise = np.arange(7, dtype=np.float32)
    for start, length in [(0, 3), (5, 4), (3, 20), (13, 7)]:
        expected = noise[(start + np.arange(length)) % 7]
        np.testing.assert_array_equal(degrade.noise_segment(noise, length, start), expected)


def test_gaussian_snr_has_the_configured_mean_and_spread():
    mixer = Mixer(config(noise_prob=1.0, snr_distribution="gaussian", snr_mean=10.0, snr_std=3.0),
                  NoisePool.from_arrays([np.ones(10, np.float32)]))
    rng = np.random.default_rng(0)
    draws = np.array([mixer.draw_snr(rng) for _ in range(4000)])
    assert abs(draws.mean() - 10.0) < 4 * 3.0 / np.sqrt(4000)
    assert draws.std() == pytest.approx(3.0, rel=0.05)


def test_reverberation_keeps_the_target_aligned():
    speech = speech_like(0.5)
    rir = decaying_rir(0.4, delay=123)
    rirs = RirPool.from_arrays([rir], RATE, rt60=[0.4])
    unit = rirs.rirs[0]
    brute = np.convolve(speech.astype(np.float64), unit.astype(np.float64))[123:123 + len(speech)]
    for target in ("dry", "early", "reverberant"):
        out = Mixer(config(reverb_prob=1.0, target=target, early_ms=10.0), rirs=rirs).mix(speech, mixing_rng(0, 0, 1))
        np.testing.assert_allclose(out.mixture, brute, atol=1e-4)
        assert out.meta["rt60"] == 0.4
        if target == "dry":
            np.testing.assert_array_equal(out.target, speech)
        elif target == "reverberant":
            np.testing.assert_array_equal(out.target, out.mixture)
        else:  # direct path + first 10 ms (160 samples) of the tail
            early = np.convolve(speech.astype(np.float64), unit[:123 + 161].astype(np.float64))[123:123 + len(speech)]
            np.testing.assert_allclose(out.target, early, atol=1e-4)
    # alignment: the early target correlates best with the dry speech at lag 0
    lags = scipy.signal.correlation_lags(len(out.target), len(speech))
    assert lags[np.argmax(scipy.signal.correlate(out.target, speech))] == 0


def test_rirs_are_chosen_by_rt60_range():
    rt60s = [0.3, 0.8, 1.4]
    rirs = RirPool.from_arrays([decaying_rir(t, seed=i) for i, t in enumerate(rt60s)], RATE, rt60=rt60s)
    mixer = Mixer(config(reverb_prob=1.0, rt60_range=(0.5, 1.0)), rirs=rirs)
    chosen = {mixer.mix(speech_like(0.2), mixing_rng(0, 0, i)).meta["rt60"] for i in range(20)}
    assert chosen == {0.8}


@pytest.mark.parametrize("rt60", [0.3, 0.9])
def test_rt60_estimate_recovers_a_known_exponential_decay(rt60):
    assert degrade.estimate_rt60(decaying_rir(rt60, seconds=2 * rt60), RATE) == pytest.approx(rt60, rel=0.05)
    pool = RirPool.from_arrays([decaying_rir(rt60, seconds=2 * rt60)], RATE)
    assert pool.rt60[0] == pytest.approx(rt60, rel=0.05)
    for flat in (np.zeros(100), np.ones(1)):
        with pytest.raises(ValueError, match="RT60 cannot be estimated"):
            degrade.estimate_rt60(flat, RATE)


def test_gain_scales_mixture_and_target_alike():
    speech = 0.2 * speech_like()
    noise = NoisePool.from_arrays([np.random.default_rng(2).standard_normal(5000).astype(np.float32)])
    plain = Mixer(config(noise_prob=1.0, snr_range=(5, 5)), noise).mix(speech, mixing_rng(3, 0, 0))
    loud = Mixer(config(noise_prob=1.0, snr_range=(5, 5), gain_db_range=(6.0, 6.0)), noise).mix(speech, mixing_rng(3, 0, 0))
    factor = 10 ** (6 / 20)
    np.testing.assert_allclose(loud.mixture, plain.mixture * factor, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(loud.target, plain.target * factor, rtol=1e-5, atol=1e-7)
    assert loud.meta["gain_db"] == 6.0 and loud.meta["clip_scale"] == 1.0


def test_clipping_is_avoided_by_scaling_both_signals():
    speech = 5 * speech_like()
    out = Mixer(config(gain_db_range=(10, 10))).mix(speech, mixing_rng(0, 0, 0))
    assert np.max(np.abs(out.mixture)) == pytest.approx(0.99, rel=1e-5)
    np.testing.assert_allclose(out.target, out.mixture, rtol=1e-6)
    assert out.meta["clip_scale"] < 1


def band_power_db(wav, low, high):
    freqs, psd = scipy.signal.welch(wav, RATE, nperseg=1024)
    return 10 * np.log10(psd[(freqs >= low) & (freqs <= high)].mean())


def test_lowpass_removes_content_above_4_khz():
    white = (0.1 * np.random.default_rng(0).standard_normal(RATE)).astype(np.float32)
    out = Mixer(config(lowpass_prob=1.0)).mix(white, mixing_rng(0, 0, 0))
    assert out.meta["lowpass"] == 1.0
    assert band_power_db(out.mixture, 5000, 8000) < band_power_db(white, 5000, 8000) - 40
    assert band_power_db(out.mixture, 100, 3000) == pytest.approx(band_power_db(white, 100, 3000), abs=1.0)


def test_mu_law_codes_and_round_trip():
    assert degrade.mu_law_encode(np.array([-1.0, 0.0, 1.0])).tolist() == [0, 128, 255]
    np.testing.assert_allclose(degrade.mu_law_decode(np.array([0, 255])), [-1.0, 1.0], atol=1e-7)
    x = np.linspace(-1, 1, 200001)
    codes = degrade.mu_law_encode(x)
    assert len(np.unique(codes)) == 256 and np.all(np.diff(codes) >= 0)
    loud = np.abs(x) > 0.05
    back = degrade.mu_law_decode(codes)
    # 8-bit μ-law keeps about 3 % relative precision on loud samples (step ≈ ln(256)/127.5 ≈ 4.3 % / 2)
    assert np.max(np.abs(back[loud] - x[loud]) / np.abs(x[loud])) < 0.03


def test_telephone_channel_is_narrow_band_and_keeps_length():
    white = (0.1 * np.random.default_rng(0).standard_normal(RATE)).astype(np.float32)
    out = Mixer(config(telephone_prob=1.0)).mix(white, mixing_rng(0, 0, 0))
    assert out.meta["telephone"] == 1.0 and out.mixture.shape == white.shape
    inside = band_power_db(out.mixture, 500, 3000)
    assert band_power_db(out.mixture, 4500, 8000) < inside - 30
    assert band_power_db(out.mixture, 20, 100) < inside - 20
    assert inside == pytest.approx(band_power_db(white, 500, 3000), abs=1.5)
    np.testing.assert_array_equal(out.target, white)


def test_same_seed_epoch_index_gives_the_same_mix():
    rirs = RirPool.from_arrays([decaying_rir(0.3), decaying_rir(0.6, seed=1)], RATE, rt60=[0.3, 0.6])
    noise = NoisePool.from_arrays([np.random.default_rng(i).standard_normal(4000).astype(np.float32) for i in range(3)])
    mixer = Mixer(MixingConfig(reverb_prob=0.5, noise_prob=0.5, gain_db_range=(-6, 6), lowpass_prob=0.3,
                               telephone_prob=0.3), noise, rirs)
    speech = speech_like(0.5)
    a, b = mixer.mix(speech, mixing_rng(1, 2, 3)), mixer.mix(speech, mixing_rng(1, 2, 3))
    np.testing.assert_array_equal(a.mixture, b.mixture)
    assert a.meta == pytest.approx(b.meta, nan_ok=True)
    others = [mixer.mix(speech, mixing_rng(1, 2, i)).mixture for i in range(4, 8)]
    assert not any(np.array_equal(a.mixture, o) for o in others)


def test_mu_law_encoder_equals_the_companding_formula():
    x = np.random.default_rng(0).uniform(-1.2, 1.2, 100000)
    clipped = np.clip(x, -1, 1)
    formula = np.rint((np.sign(clipped) * np.log1p(255 * np.abs(clipped)) / np.log1p(255) + 1) / 2 * 255)
    np.testing.assert_array_equal(degrade.mu_law_encode(x), formula)
    np.testing.assert_array_equal(degrade.mu_law_encode(x, bits=4),
                                  np.rint((np.sign(clipped) * np.log1p(15 * np.abs(clipped)) / np.log1p(15) + 1) / 2 * 15))


def test_file_noise_reads_looped_windows_like_the_array(tmp_path):
    from leanspeech.audio.io import save_audio
    from leanspeech.data.manifest import ManifestEntry

    noise = (0.1 * np.random.default_rng(0).standard_normal(5000)).astype(np.float32)
    save_audio(tmp_path / "n16.wav", noise, RATE, subtype="FLOAT")
    save_audio(tmp_path / "n8.wav", noise, 8000, subtype="FLOAT")
    entries = [ManifestEntry(name, "noise", "train", "n", "test", 5000 / rate, rate)
               for name, rate in (("n16.wav", RATE), ("n8.wav", 8000), ("gone.wav", RATE))]
    pool = NoisePool.from_entries(entries, tmp_path, RATE)
    assert len(pool) == 2 and pool.clips[1].length == 10000
    for start, length in [(0, 100), (4900, 300), (1234, 12000)]:
        np.testing.assert_array_equal(pool.clips[0].fetch(start, length), degrade.noise_segment(noise, length, start))
    assert pool.clips[1].fetch(9000, 4000).shape == (4000,)

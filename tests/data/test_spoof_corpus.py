"""The spoofing corpus on tiny synthetic prompts: ASVspoof layout read back by the real-corpus reader,
seen/unseen attacks, speakers per split, the common channel's level and bandwidth, the vocoders."""

import numpy as np
import pytest
import soundfile as sf

from leanspeech.data.corpus import build_corpus
from leanspeech.data.manifest import ManifestEntry, read_manifest
from leanspeech.data.readers.asvspoof import read_asvspoof2019_la
from leanspeech.data.sources.debian import is_installed
from leanspeech.data.sources.human import IvrPrompts, PromptSet
from leanspeech.data.sources.spoof import ATTACKS, SpoofAttacks, SpoofBonafide, split_seen_voices
from leanspeech.data.sources.spoof_channel import Channel, active_rms, apply_channel
from leanspeech.data.sources.vocoders import griffin_lim, lpc_vocoder, phase_vocoder
from leanspeech.data.spoof_protocol import protocol_line
from leanspeech.errors import CorpusError

SPLIT_OF = {"ann": "train", "bob": "dev", "cyd": "test"}


def vowel(rate: int, f0: float, seconds: float, seed: int) -> np.ndarray:
    """A glottal-pulse-like harmonic series with a slow level contour and short silences at both ends."""
    t = np.arange(int(seconds * rate)) / rate
    wav = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, int(3000 / f0)))
    wav = wav * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) + 1e-3 * np.random.default_rng(seed).standard_normal(len(t))
    wav[: rate // 10] = wav[-rate // 10:] = 0
    return (0.3 * wav / np.abs(wav).max()).astype(np.float32)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    if not is_installed("sox"):
        pytest.skip("the GSM codec of the channel needs sox")
    root = tmp_path_factory.mktemp("spoof-tiny")
    sets = []
    for i, speaker in enumerate(SPLIT_OF):
        folder = root / "prompts" / speaker
        folder.mkdir(parents=True)
        for j in range(4):
            sf.write(folder / f"p{j}.wav", vowel(8000, 110 + 40 * i + 7 * j, 1.5, j), 8000)
        sets.append(PromptSet(speaker, "xx", None, folder))
    prompts = IvrPrompts(tuple(sets), SPLIT_OF)
    vocoder_attacks = tuple(a for a in ATTACKS if a.family == "vocoder")
    sources = {"spoof-bonafide": SpoofBonafide(prompts), "spoof-attacks": SpoofAttacks(prompts, attacks=vocoder_attacks)}
    return build_corpus(root / "corpus", minutes=0.5, seed=1, task="spoof", workers=1, sources=sources, progress=False)


def test_the_asvspoof_reader_reads_the_built_corpus_like_its_manifest(tiny):
    manifest = {e.path: e for e in read_manifest(tiny.manifest)}
    listing = read_asvspoof2019_la(tiny.out)
    assert not listing.skipped and len(listing.entries) == len(manifest)
    for e in listing.entries:
        ours = manifest[e.path]
        assert (e.split, e.speaker, e.extra["attack"], e.extra["label"]) == (
            ours.split, ours.speaker, ours.extra["attack"], ours.extra["key"])
        assert e.duration == pytest.approx(ours.duration, abs=1e-4)


def test_attacks_are_seen_in_train_and_dev_unseen_in_eval_and_speakers_stay_in_their_split(tiny):
    entries = read_manifest(tiny.manifest)
    attacks = {s: {e.extra["attack"] for e in entries if e.split == s and e.extra["key"] == "spoof"}
               for s in ("train", "dev", "test")}
    assert attacks == {"train": {"A03"}, "dev": {"A03"}, "test": {"A05", "A06"}}
    assert all(SPLIT_OF[e.speaker] == e.split for e in entries)  # re-synthesis uses its split's speakers
    assert {e.extra["key"] for e in entries if e.split == "dev"} == {"bonafide", "spoof"}


def test_every_file_leaves_the_channel_at_one_rate_level_and_format(tiny):
    for e in read_manifest(tiny.manifest):
        info = sf.info(str(e.resolve(tiny.out)))
        assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 1, "PCM_16", "FLAC")
        wav, _ = sf.read(str(e.resolve(tiny.out)))
        assert 20 * np.log10(active_rms(wav, 16000)) == pytest.approx(-26.0, abs=0.3)


def test_channel_band_limits_a_wideband_input_to_the_noise_floor():
    rate, rng = 32000, np.random.default_rng(0)
    t = np.arange(rate) / rate
    wav = (0.3 * np.sin(2 * np.pi * 1000 * t) + 0.3 * np.sin(2 * np.pi * 6000 * t)).astype(np.float32)
    channel = Channel(codec=None)
    out = apply_channel(wav, rate, 16000, rng, channel).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(out)) ** 2 / len(out)
    freqs = np.fft.rfftfreq(len(out), 1 / 16000)
    floor_per_bin = 10 ** (channel.noise_floor_dbfs / 10) + (2.0 ** -15) ** 2 / 6  # white floor + TPDF dither
    assert spectrum[(freqs > 4500)].mean() == pytest.approx(floor_per_bin, rel=0.1)  # the 6 kHz tone is gone
    assert spectrum[np.argmin(np.abs(freqs - 1000))] > 1e6 * floor_per_bin  # the 1 kHz one is kept


def test_phase_vocoder_moves_the_pitch_by_its_semitones_and_the_others_keep_it():
    rate = 8000
    tone = np.sin(2 * np.pi * 400 * np.arange(2 * rate) / rate).astype(np.float32)
    rng = np.random.default_rng(0)

    def peak_hz(wav):
        return np.argmax(np.abs(np.fft.rfft(wav * np.hanning(len(wav))))) * rate / len(wav)

    assert peak_hz(phase_vocoder(tone, rate, rng, semitones=3.0)) == pytest.approx(400 * 2 ** 0.25, abs=3)
    assert peak_hz(griffin_lim(tone, rate, rng, n_mels=48, iterations=16)) == pytest.approx(400, abs=30)
    voiced = vowel(rate, 125, 1.0, 0)
    out = lpc_vocoder(voiced, rate, rng, order=10)
    assert out.shape == voiced.shape and np.isfinite(out).all()
    assert peak_hz(out[rate // 5: -rate // 5]) == pytest.approx(125, abs=8)  # pulses at the detected pitch


def test_seen_voices_split_between_train_and_dev_stably():
    assert sorted(split_seen_voices(["awb", "rms"]).values()) == ["dev", "train"]
    many = split_seen_voices(f"v{i}" for i in range(10))
    assert list(many.values()).count("dev") == 3 and many == split_seen_voices(f"v{i}" for i in reversed(range(10)))


def test_protocol_line_refuses_files_outside_the_layout_or_with_a_wrong_key():
    entry = ManifestEntry("ASVspoof2019_LA_dev/flac/LS_D_x.flac", "speech", "dev", "bob", "s", 1.0, 16000,
                          extra={"attack": "-", "key": "bonafide"})
    assert protocol_line(entry) == ("dev", "bob LS_D_x - - bonafide")
    with pytest.raises(CorpusError, match="layout"):
        protocol_line(ManifestEntry("speech/x.flac", "speech", "dev", "bob", "s", 1.0, 16000, extra=entry.extra))
    with pytest.raises(CorpusError, match="key"):
        protocol_line(ManifestEntry(entry.path, "speech", "dev", "bob", "s", 1.0, 16000,
                                    extra={"attack": "A01", "key": "bonafide"}))


def test_the_spoof_corpus_refuses_wav_format(tmp_path):
    with pytest.raises(CorpusError, match="flac"):
        build_corpus(tmp_path / "c", minutes=0.1, task="spoof", audio_format="wav", progress=False)

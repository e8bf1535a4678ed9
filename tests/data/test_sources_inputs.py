"""Sources on inputs we control: corrupt files are skipped and counted, missing packages reported,
GSM decoding, TTS output rates, synthesized noise spectra and sentence generation."""

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import welch

from leanspeech.data.corpus import build_corpus
from leanspeech.data.manifest import ManifestEntry
from leanspeech.data.sources import BuildContext
from leanspeech.data.sources.base import run_command
from leanspeech.data.sources.debian import DebianPackage, is_installed, package_files
from leanspeech.data.sources.human import IvrPrompts, PromptSet, decode_prompt, prompt_header
from leanspeech.data.sources.recorded_noise import SoundIcons
from leanspeech.data.sources.synthetic_noise import coloured_noise, mains_hum
from leanspeech.data.sources.tts import CMU_VOICES, ESPEAK_VOICES, TtsJob, synthesize
from leanspeech.data.sources.rir import RirJob, cached_rir, draw_room
from leanspeech.data.text import LANGUAGES, make_sentence
from leanspeech.errors import CorpusError
from leanspeech.registry import SOURCES

NO_SUCH = DebianPackage("leanspeech-no-such-package", "none")


def tone(seconds, rate=8000, hz=440.0):
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_corrupt_and_empty_inputs_are_skipped_and_counted(tmp_path):
    folder = tmp_path / "prompts"
    folder.mkdir()
    sf.write(folder / "one.wav", tone(1.0), 8000)
    sf.write(folder / "two.wav", tone(0.5, hz=300), 8000)
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00garbage" * 10)
    (folder / "empty.gsm").write_bytes(b"")
    source = IvrPrompts(sets=(PromptSet("tester", "en", None, folder),), speaker_splits={"tester": "train"})
    ctx = BuildContext(out=tmp_path / "out", workers=1, progress=False)
    entries = source.build(ctx, {"train": 10.0})
    assert sorted(e.extra["prompt"] for e in entries) == ["one", "two"]
    assert sorted(s.origin.rsplit("/", 1)[1] for s in ctx.skipped) == ["broken.wav", "empty.gsm"]
    durations = sorted(e.duration for e in entries)
    assert durations == pytest.approx([0.5, 1.0], abs=1e-3)  # resampled 8 -> 16 kHz, length kept
    assert all(sf.info(str(e.resolve(ctx.out))).samplerate == 16000 for e in entries)


def test_missing_package_is_reported_and_the_build_goes_on(tmp_path):
    class AbsentIcons(SoundIcons):
        package = NO_SUCH

    ctx = BuildContext(out=tmp_path, workers=1, progress=False)
    source = AbsentIcons()
    assert source.build(ctx, {"train": 1.0}) == []
    assert ctx.missing == {"sound-icons": [NO_SUCH.name]}


def test_no_speech_at_all_is_an_error_naming_the_install_command(tmp_path):
    absent = IvrPrompts(sets=(PromptSet("x", "en", NO_SUCH),))

    class Nothing(IvrPrompts):
        def build(self, ctx, minutes):
            return []

    silent = {name: Nothing() for name in ("espeak-ng", "flite", "festival")}
    with pytest.raises(CorpusError, match=f"apt-get install {NO_SUCH.name}"):
        build_corpus(tmp_path, minutes=1, sources={"ivr-prompts": absent, **silent}, progress=False)


@pytest.mark.skipif(not is_installed("asterisk-prompt-fr-armelle"), reason="needs asterisk-prompt-fr-armelle")
def test_gsm_prompt_decodes_to_the_length_its_size_implies():
    path = package_files("asterisk-prompt-fr-armelle", (".gsm",))[0]
    seconds, rate = prompt_header(path)
    wav, decoded_rate = decode_prompt(path)
    assert (decoded_rate, rate) == (8000, 8000)
    assert len(wav) == path.stat().st_size // 33 * 160
    assert len(wav) / 8000 == pytest.approx(seconds)


@pytest.mark.parametrize("voice", [ESPEAK_VOICES[0], CMU_VOICES[0], CMU_VOICES[-1]], ids=lambda v: v.engine)
def test_tts_engines_write_at_their_declared_rate(voice, tmp_path):
    if not (is_installed(voice.package.name) and is_installed(voice.engine)):
        pytest.skip(f"needs {voice.package.name}")
    source = SOURCES.build(voice.engine)
    command, _ = source.command(voice, voice.languages[0], np.random.default_rng(0))
    probe = tmp_path / "probe.wav"
    run_command([p.replace("{wav}", str(probe)) for p in command], stdin="Seven green apples.")
    assert sf.info(str(probe)).samplerate == voice.rate
    entry = ManifestEntry("s/0.flac", "speech", "train", voice.speaker, voice.engine, 0.0, 16000)
    done = synthesize(TtsJob("probe", command, "Seven green apples.", entry, tmp_path))
    assert 0.5 < done.duration < 5 and sf.info(str(tmp_path / "s/0.flac")).samplerate == 16000


@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0])
def test_coloured_noise_has_the_requested_spectral_slope(exponent):
    wav = coloured_noise(2**17, exponent, np.random.default_rng(1))
    freqs, power = welch(wav, fs=16000, nperseg=4096)
    band = (freqs > 50) & (freqs < 4000)
    slope = np.polyfit(np.log10(freqs[band]), np.log10(power[band]), 1)[0]
    assert slope == pytest.approx(-exponent, abs=0.15)


@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_hum_peaks_at_the_mains_frequency(mains):
    wav = mains_hum(16000 * 4, 16000, mains, np.random.default_rng(2))
    spectrum = np.abs(np.fft.rfft(wav))
    freqs = np.fft.rfftfreq(len(wav), 1 / 16000)
    peaks = freqs[np.argsort(spectrum)[-3:]]
    assert all(abs(p / mains - round(p / mains)) < 0.02 for p in peaks)  # strongest bins are harmonics
    assert spectrum[freqs > 20 * mains].max() < 1e-2 * spectrum.max()


def test_sentences_are_deterministic_and_complete():
    for language in LANGUAGES:
        assert make_sentence(language, np.random.default_rng(5)) == make_sentence(language, np.random.default_rng(5))
        many = {make_sentence(language, np.random.default_rng(seed)) for seed in range(30)}
        assert len(many) > 20
        assert all("{" not in s and s[0].isupper() and s.endswith(".") for s in many)
    with pytest.raises(ValueError, match="known"):
        make_sentence("xx", np.random.default_rng(0))


def test_rooms_are_physical_and_rirs_are_cached(tmp_path):
    for i in range(40):
        room = draw_room(np.random.default_rng([0, i]))
        assert 0.1 <= room["rt60"] <= 1.5 and 0 < room["absorption"] <= 1
        assert all(0 < p < d for p, d in zip(room["source"] + room["mic"], room["dims"] * 2))
    room = draw_room(np.random.default_rng([0, 2]))  # a short (0.21 s) room keeps the test quick
    entry = ManifestEntry("r.flac", "rir", "train", "r", "shoebox-rir", 0.0, 16000)
    job = RirJob("r", room, 7, tmp_path, entry, tmp_path)
    first = cached_rir(job, 16000)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    np.testing.assert_array_equal(cached_rir(job, 16000), first)
    import pyroomacoustics as pra

    filter_delay = pra.constants.get("frac_delay_length") // 2  # pyroomacoustics centres its delay filters
    direct = np.linalg.norm(np.subtract(room["source"], room["mic"])) / pra.constants.get("c")
    assert (np.argmax(np.abs(first)) - filter_delay) / 16000 == pytest.approx(direct, abs=1.5 / 16000)

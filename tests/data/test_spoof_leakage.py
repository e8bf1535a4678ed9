"""The no-shortcut proof of the spoofing corpus: a linear classifier on long-term spectrum band energies,
level and crest factor (what sample rate, bandwidth, codec and level differences show up in) must not
separate bona fide from spoof after the common channel, yet does on the same utterances without it."""

import numpy as np
import pytest
import soundfile as sf
from scipy.optimize import minimize
from scipy.signal import welch

from leanspeech.audio.resample import resample
from leanspeech.data.corpus import TASKS, build_corpus
from leanspeech.data.manifest import read_manifest
from leanspeech.data.sources import BuildContext
from leanspeech.data.sources.debian import is_installed
from leanspeech.data.sources.spoof import render
from leanspeech.data.splits import minutes_per_split
from leanspeech.metrics import equal_error_rate
from leanspeech.registry import SOURCES

MINUTES, SEED, RATE, SEGMENT = 3.0, 5, 16000, 1.0
# Chance is 50 %. The dev set is small (one bona fide speaker, ~15 one-second segments per class), so an
# EER's standard error is ~9 points: 35 % is 1.7 of them below chance, while a real spectral shortcut
# (the raw sources) lands far below 20 %.
CHANCE_FLOOR, SHORTCUT_CEILING = 0.35, 0.2
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not all(is_installed(p) for p in ("asterisk-core-sounds-en-wav", "asterisk-core-sounds-it-wav", "espeak-ng", "sox")),
    reason="needs the Debian sound and TTS packages (make system)")]


def segments(wav: np.ndarray, seconds: float = SEGMENT) -> list[np.ndarray]:
    """Consecutive segments (the last partial one dropped, a short file kept whole): more probe samples
    from a small corpus, and what a countermeasure sees as its input crop."""
    size = int(seconds * RATE)
    return [wav[i:i + size] for i in range(0, max(len(wav) - size, 0) + 1, size)]


def band_features(wav: np.ndarray, rate: int = RATE, bands: int = 32) -> np.ndarray:
    """Log energy of the long-term average spectrum in `bands` equal bands up to Nyquist, level, crest."""
    _, psd = welch(wav, rate, nperseg=512)
    energy = np.add.reduceat(psd[:-1], np.arange(0, len(psd) - 1, (len(psd) - 1) // bands))
    rms = np.sqrt(np.mean(wav.astype(np.float64) ** 2))
    return np.r_[10 * np.log10(energy + 1e-20), 20 * np.log10(rms + 1e-12), 20 * np.log10(np.abs(wav).max() / rms)]


def logistic_scores(x_train, y_train, x_test, l2: float = 1e-2) -> np.ndarray:
    """L2-regularised logistic regression (standardised features, L-BFGS); returns test logits."""
    mean, std = x_train.mean(0), x_train.std(0) + 1e-9
    a, b = (x_train - mean) / std, (x_test - mean) / std
    a, b = np.c_[a, np.ones(len(a))], np.c_[b, np.ones(len(b))]
    sign = 2 * y_train - 1

    def loss(w):
        margin = sign * (a @ w)
        grad = -(a * (sign * np.exp(-np.logaddexp(0, margin)))[:, None]).mean(0) + l2 * np.r_[w[:-1], 0]
        return np.logaddexp(0, -margin).mean() + 0.5 * l2 * w[:-1] @ w[:-1], grad

    w = minimize(loss, np.zeros(a.shape[1]), jac=True, method="L-BFGS-B").x
    return b @ w


def dev_eer(features: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> float:
    scores = logistic_scores(features["train"], labels["train"], features["dev"])
    return equal_error_rate(scores, labels["dev"]).eer


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("spoof") / "c"
    return build_corpus(out, minutes=MINUTES, seed=SEED, task="spoof", workers=2, progress=False)


def split_arrays(rows):
    """rows of (split, spoof?, features) -> per split feature matrix and labels (1 = spoof)."""
    features, labels = {}, {}
    for split in ("train", "dev"):
        chosen = [(y, f) for s, y, f in rows if s == split]
        labels[split] = np.array([y for y, _ in chosen], dtype=float)
        features[split] = np.array([f for _, f in chosen])
    return features, labels


def test_band_energies_do_not_separate_the_classes_after_the_channel(corpus):
    rows = []
    for e in read_manifest(corpus.manifest):
        wav, rate = sf.read(str(e.resolve(corpus.out)), dtype="float32")
        assert rate == RATE
        rows += [(e.split, e.extra["key"] == "spoof", band_features(part)) for part in segments(wav)]
    features, labels = split_arrays(rows)
    assert min(labels["dev"].sum(), (1 - labels["dev"]).sum()) >= 10  # enough of each class to mean something
    eer = dev_eer(features, labels)
    print(f"dev EER after the common channel: {eer:.3f} ({len(labels['dev'])} dev segments, "
          f"{int(labels['dev'].sum())} spoof)")
    assert eer > CHANCE_FLOOR


def test_the_same_probe_finds_the_shortcut_without_the_channel(corpus):
    """The utterances of the same plan, only resampled to the corpus rate (what a naive build does)."""
    ctx = BuildContext(out=corpus.out, seed=SEED, progress=False)
    rows = []
    for share in TASKS["spoof"]:
        for job in SOURCES.build(share.source).plan(ctx, minutes_per_split(MINUTES * share.fraction)):
            if job.entry.split in ("train", "dev"):
                wav, rate = render(job)
                rows += [(job.entry.split, job.entry.extra["key"] == "spoof", band_features(part))
                         for part in segments(resample(wav, rate, RATE))]
    features, labels = split_arrays(rows)
    eer = dev_eer(features, labels)
    print(f"dev EER without the channel: {eer:.3f}")
    assert eer < SHORTCUT_CEILING

"""The D-GRU enhancement study end to end on a tiny corpus of real speech (Allison's prompts) and noise."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from leanspeech.audio.io import load_audio, save_audio
from leanspeech.cli import main
from leanspeech.data.manifest import ManifestEntry, write_manifest
from leanspeech.errors import RecipeError
from leanspeech.metrics import pesq, si_snr_db
from leanspeech.nn.dgru import selected_count
from leanspeech.studies.enhance import EnhanceStudyConfig

ALLISON = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
PROMPTS = {"train": ["agent-pass", "vm-sorry", "demo-congrats", "conf-onlyperson"],
           "test": ["agent-newlocation", "vm-goodbye", "conf-getpin"]}
RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "enhance"


def tiny_corpus(root: Path) -> Path:
    """Real speech at 16 kHz, speakers split by prompt group, and brown/white noise per split."""
    rng = np.random.default_rng(0)
    entries = []
    for split, names in PROMPTS.items():
        for name in names:
            wav, rate = load_audio(ALLISON / f"{name}.wav", sample_rate=16000)
            save_audio(root / "speech" / split / f"{name}.wav", wav, rate)
            entries.append(ManifestEntry(path=f"speech/{split}/{name}.wav", kind="speech", split=split,
                                         speaker=f"allison-{split}", source="ivr", duration=len(wav) / rate,
                                         sample_rate=rate))
        noise = rng.standard_normal(16000 * 6).astype(np.float32) * 0.05
        if split == "train":  # a different colour of noise per split: the test noise is held out
            noise = np.cumsum(noise).astype(np.float32)
            noise = 0.1 * noise / np.abs(noise).max()
        save_audio(root / "noise" / split / "noise.wav", noise, 16000)
        entries.append(ManifestEntry(path=f"noise/{split}/noise.wav", kind="noise", split=split, speaker="",
                                     source="synthetic", duration=6.0, sample_rate=16000))
    write_manifest(root / "manifest.csv", entries)
    return root


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("enhance-study")
    corpus = tiny_corpus(root / "corpus")
    out = root / "out"
    argv = ["study", "enhance", "--corpus", str(corpus), "--out", str(out), "--quick", "--hidden", "16",
            "--pretrain-steps", "6", "--finetune-steps", "2", "--percents", "100", "50"]
    assert main(argv) == 0
    return corpus, out, json.loads((out / "results.json").read_text()), argv


@pytest.mark.slow  # shares the module's study run (about 30 s)
def test_quick_study_writes_every_table_and_figure(study):
    _, out, results, _ = study
    for name in ("README.md", "results.csv", "significance.csv", "delta_pesq.csv", "delta_pesq.png", "pesq_box.png"):
        assert (out / name).stat().st_size > 0, name
    with open(out / "results.csv", newline="") as handle:
        conditions = [row["condition"] for row in csv.DictReader(handle)]
    assert conditions == ["noisy", "RNNoise", "P=100", "P=50"]
    assert set(results["delta_pesq"]) == {"RNNoise", "P=100", "P=50"}
    assert set(results["delta_pesq"]["P=50"]) == {"-5", "0", "5"}
    assert "P = 50" in results["target"]
    assert (out / "runs" / "p50" / "model.pt").is_file() and len(list((out / "examples" / "P=50").glob("*.wav"))) == 2


@pytest.mark.slow  # shares the module's study run (about 30 s)
def test_dgru_cost_is_the_closed_form_share_of_the_dense_gru(study):
    costs = study[2]["costs"]
    hidden = 16
    expected = (1 + 2 * selected_count(50, hidden) / hidden) / 3  # §3.3: z always, r and n for the selected rows
    assert costs["P=50"]["gru"] / costs["P=100"]["gru"] == pytest.approx(expected, rel=1e-9)
    assert costs["P=50"]["non_gru"] == pytest.approx(costs["P=100"]["non_gru"])
    # FC 161→16 and 16→161 at 100 frames/s (weights only; the elementwise mask and activations add a little)
    assert costs["P=100"]["non_gru"] >= 2 * 161 * 16 * 100


@pytest.mark.slow  # shares the module's study run (about 30 s)
def test_noisy_scores_and_p_values_match_direct_computation(study):
    _, out, results, _ = study
    mixture, rate = load_audio(out / "testsets" / "main" / "mixture" / "000000.wav")
    clean, _ = load_audio(out / "testsets" / "main" / "clean" / "000000.wav")
    noisy = results["scores"]["main"]["noisy"]
    assert noisy["si_snr"][0] == pytest.approx(si_snr_db(clean, mixture), abs=1e-6)
    assert noisy["pesq"][0] == pytest.approx(pesq(clean, mixture, rate), abs=1e-6)
    a, b = (np.array(results["scores"]["main"][c]["pesq"], dtype=float) for c in ("P=100", "P=50"))
    usable = np.isfinite(a) & np.isfinite(b)
    pair = results["significance"][0]
    assert (pair["a"], pair["b"]) == ("P=100", "P=50")
    assert pair["p"] == pytest.approx(stats.mannwhitneyu(a[usable], b[usable]).pvalue)


@pytest.mark.slow  # shares the module's study run (about 30 s)
def test_rerun_reuses_test_sets_runs_and_scores(study):
    _, out, results, argv = study
    model_time = (out / "runs" / "p50" / "model.pt").stat().st_mtime_ns
    scores_time = (out / "scores" / "main" / "P=50.csv").stat().st_mtime_ns
    assert main(argv) == 0
    assert (out / "runs" / "p50" / "model.pt").stat().st_mtime_ns == model_time
    assert (out / "scores" / "main" / "P=50.csv").stat().st_mtime_ns == scores_time
    again = json.loads((out / "results.json").read_text())
    assert again["rows"] == results["rows"]


@pytest.mark.parametrize("recipe", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.stem)
def test_recipes_parse(recipe):
    config = EnhanceStudyConfig.from_yaml(recipe)
    assert config.host == "enhance_gru" and 100 in config.percents


def test_bad_recipe_keys_are_named():
    with pytest.raises(RecipeError, match="unknown key"):
        EnhanceStudyConfig.from_dict({"pretrain_step": 3})
    with pytest.raises(RecipeError, match="percents"):
        EnhanceStudyConfig.from_dict({"percents": [100, 0]})
    with pytest.raises(RecipeError, match="rnn"):
        EnhanceStudyConfig.from_dict({"model": {"hidden": 8, "rnn": "lstm"}})

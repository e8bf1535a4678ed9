"""The anti-spoofing study end to end (--quick) on a synthetic corpus in the ASVspoof 2019 LA layout,
and the study's handling of bad protocols: missing files skipped and counted, unknown attack ids and
malformed lines refused with the protocol's line number; a killed training run resumes to the
uninterrupted result."""

import csv
import json

import numpy as np
import pytest
import soundfile as sf
import torch

from leanspeech.cli import main
from leanspeech.errors import CorpusError
from leanspeech.registry import MODELS
from leanspeech.studies import spoof_train
from leanspeech.studies.spoof import SpoofStudyConfig
from leanspeech.studies.spoof_data import SpoofCrops, fit_length, read_split
from leanspeech.studies.vad_train import TrainSettings
from leanspeech.train.progress import save_progress

RATE = 16000
PARTS = {"train": ("trn", ["A01", "A02"]), "dev": ("trl", ["A01", "A02"]), "eval": ("trl", ["A04", "A05"])}


def write_corpus(root, files_per_class=6, seed=0):
    """Bona fide: noise-excited harmonics; attack A0x: a pure tone whose pitch depends on the attack."""
    rng = np.random.default_rng(seed)
    protocols = root / "ASVspoof2019_LA_cm_protocols"
    protocols.mkdir(parents=True)
    t = np.arange(int(0.8 * RATE)) / RATE
    for part, (suffix, attacks) in PARTS.items():
        folder = root / f"ASVspoof2019_LA_{part}" / "flac"
        folder.mkdir(parents=True)
        lines = []
        for i in range(files_per_class):
            name = f"LA_{part[0].upper()}_bona{i}"
            wav = 0.1 * rng.standard_normal(t.size) * np.sin(2 * np.pi * 150 * t)
            sf.write(folder / f"{name}.flac", wav.astype(np.float32), RATE)
            lines.append(f"spk{i % 2} {name} - - bonafide")
            attack = attacks[i % len(attacks)]
            name = f"LA_{part[0].upper()}_spoof{i}"
            wav = 0.1 * np.sin(2 * np.pi * (300 + 100 * int(attack[1:])) * t) + 0.01 * rng.standard_normal(t.size)
            sf.write(folder / f"{name}.flac", wav.astype(np.float32), RATE)
            lines.append(f"spk{i % 2} {name} - {attack} spoof")
        (protocols / f"ASVspoof2019.LA.cm.{part}.{suffix}.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("la") / "LA")


@pytest.mark.slow
def test_quick_study_end_to_end(corpus, tmp_path):
    out = tmp_path / "study"
    assert main(["study", "spoof", "--corpus", str(corpus), "--out", str(out), "--quick"]) == 0
    summary = json.loads((out / "results.json").read_text())
    names = [r["name"] for r in summary["results"]]
    assert names == ["RN34", "DRN34 BX 25", "DRN34 B3 12.5"]
    assert summary["files"] == {"train": 12, "dev": 12, "test": 12}
    baseline, bx, b3 = summary["results"]
    assert set(bx["eer_per_attack"]) == {"A04", "A05"}  # the eval split's (unseen) attacks
    assert baseline["channels"] == [4, 4, 8, 8] and b3["channels"][:3] == [4, 4, 8]
    for result in summary["results"]:
        assert 0.0 <= result["eer"] <= 1.0 and result["params"] > 0 and result["flops_per_second"] > 0
    # a run that learned narrower stacks is consolidated: fewer parameters than RN34 exactly when narrower
    for result in (bx, b3):
        assert (result["params"] < baseline["params"]) == (result["channels"] != baseline["channels"])
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [r["name"] for r in rows] == names and "eer_A05" in rows[0] and float(rows[0]["flops_saved"]) == 0.0
    assert [r["name"] for r in csv.DictReader((out / "runs.csv").open())] == names
    assert (out / "eer_vs_flops.png").stat().st_size > 10_000
    assert (out / "runs" / "drn34-bx-25" / "consolidated.pt").is_file()
    # a finished run folder is reused as it is (a re-run of the study resumes after it)
    from leanspeech.studies.spoof_train import train_run

    metrics = json.loads((out / "runs" / "rn34" / "metrics.json").read_text())
    assert train_run("RN34", None, None, None, 10**6, out / "runs" / "rn34", None, 1) == metrics


@pytest.mark.slow
def test_seeds_repeat_the_study_and_report_the_spread(corpus, tmp_path):
    from dataclasses import asdict, replace

    from leanspeech.errors import RecipeError
    from leanspeech.models.io import load_model
    from leanspeech.studies.runs import check_same_study
    from leanspeech.studies.spoof import run_spoof_study
    from leanspeech.studies.spoof_cli import QUICK

    config = SpoofStudyConfig.from_dict({**QUICK, "single_stacks": [], "seeds": 2, "train": {"batch_size": 8, "seed": 3}})
    summary = run_spoof_study(config, corpus, tmp_path / "study")
    assert [(r["name"], r["seed"]) for r in summary["runs"]] == [("RN34", 3), ("DRN34 BX 25", 3), ("RN34", 4),
                                                                 ("DRN34 BX 25", 4)]
    runs = tmp_path / "study" / "runs"
    assert sorted(p.name for p in runs.iterdir()) == ["drn34-bx-25", "drn34-bx-25-seed4", "rn34", "rn34-seed4"]
    # the seed sets the initial weights too, not only the crops and batch order
    first, second = (load_model(runs / folder / "model.pt").state_dict() for folder in ("rn34", "rn34-seed4"))
    assert not torch.equal(first["stem.0.weight"], second["stem.0.weight"])
    for row in summary["results"]:
        eers = [r["eer"] for r in summary["runs"] if r["name"] == row["name"]]
        assert row["eer_per_seed"] == eers and row["seeds"] == [3, 4]
        assert row["eer"] == pytest.approx(np.mean(eers)) and row["eer_std"] == pytest.approx(np.std(eers, ddof=1))
    baseline, bx = summary["results"]
    assert bx["flops_saved"] == pytest.approx(1 - bx["flops_per_second"] / baseline["flops_per_second"])
    # resuming with another beta would reuse runs trained with the old one: refused before any work
    changed = SpoofStudyConfig.from_dict({**asdict(config), "beta": 4.0, "seeds": 3})
    with pytest.raises(RecipeError, match=r"other beta \(see .*study\.json\)"):
        run_spoof_study(changed, corpus, tmp_path / "study")
    check_same_study(tmp_path / "study", corpus, replace(config, seeds=5), may_change=("seeds",))
    # another minimum width only adds runs: accepted, and the finished ones are reused as they are
    written = (runs / "rn34" / "model.pt").stat().st_mtime_ns
    more = run_spoof_study(replace(config, all_stacks_min_fractions=(0.25, 0.5)), corpus, tmp_path / "study")
    assert [r["name"] for r in more["results"]] == ["RN34", "DRN34 BX 25", "DRN34 BX 50"]
    assert (runs / "rn34" / "model.pt").stat().st_mtime_ns == written


@pytest.mark.slow
def test_finetuning_trains_the_consolidated_model_and_rn34_as_long(corpus, tmp_path):
    from leanspeech.models.io import load_model
    from leanspeech.studies.spoof import run_spoof_study
    from leanspeech.studies.spoof_cli import QUICK

    config = SpoofStudyConfig.from_dict({**QUICK, "single_stacks": [], "finetune_steps": 4, "train": {"batch_size": 8}})
    summary = run_spoof_study(config, corpus, tmp_path / "study")
    runs = tmp_path / "study" / "runs"
    rn34 = json.loads((runs / "rn34" / "metrics.json").read_text())
    assert rn34["steps"] == 2 + 2 + 4
    tuning = json.loads((runs / "drn34-bx-25" / "finetuned" / "metrics.json").read_text())
    assert tuning["steps"] == 4 and tuning["live_widths"] == {}  # a plain, consolidated network
    consolidated = load_model(runs / "drn34-bx-25" / "consolidated.pt").state_dict()
    tuned = load_model(runs / "drn34-bx-25" / "finetuned" / "model.pt").state_dict()
    assert {k: v.shape for k, v in tuned.items()} == {k: v.shape for k, v in consolidated.items()}
    assert any(not torch.equal(tuned[k], consolidated[k]) for k in tuned if tuned[k].is_floating_point())
    assert [r["name"] for r in summary["results"]] == ["RN34", "DRN34 BX 25", "DRN34 BX 25 fine-tuned"]
    _, bx, tuned_row = summary["runs"]
    assert (tuned_row["selected_step"], tuned_row["dev_eer"]) == (tuning["selected_step"], tuning["dev_eer"])
    assert tuned_row["channels"] == bx["channels"] and tuned_row["params"] == bx["params"]


def test_seeds_must_be_positive():
    with pytest.raises(Exception, match="seeds must be >= 1"):
        SpoofStudyConfig.from_dict({"seeds": 0})


def test_missing_files_are_skipped_and_counted(tmp_path, caplog):
    root = write_corpus(tmp_path / "LA", files_per_class=3)
    (root / "ASVspoof2019_LA_dev" / "flac" / "LA_D_spoof1.flac").unlink()
    utterances = read_split(root, "dev")
    assert len(utterances) == 5 and not any(u.path.name == "LA_D_spoof1.flac" for u in utterances)
    assert "skipped 1 ASVspoof 2019 LA files" in caplog.text and "LA_D_spoof1.flac: file does not exist" in caplog.text


def test_unknown_attack_id_names_the_protocol_line(tmp_path):
    root = write_corpus(tmp_path / "LA", files_per_class=3)
    protocol = root / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.eval.trl.txt"
    lines = protocol.read_text().splitlines()
    lines[3] = lines[3].replace("A05", "XX9")
    protocol.write_text("\n".join(lines) + "\n")
    with pytest.raises(CorpusError, match=r"eval\.trl\.txt, line 4: unknown attack id 'XX9'"):
        read_split(root, "test")


def test_malformed_protocol_names_the_line(tmp_path):
    root = write_corpus(tmp_path / "LA", files_per_class=3)
    protocol = root / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.train.trn.txt"
    protocol.write_text(protocol.read_text() + "spk0,LA_T_bona0,-,-,bonafide\n")
    with pytest.raises(CorpusError, match=r"train\.trn\.txt, line 7"):
        read_split(root, "train")


def test_fit_length_repeats_short_and_crops_long():
    short = np.arange(3.0)
    assert fit_length(short, 7).tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert fit_length(np.arange(10.0), 4, offset=5).tolist() == [5, 6, 7, 8]


def test_recipes_load(tmp_path):
    from pathlib import Path

    for recipe in sorted(Path(__file__).resolve().parents[2].joinpath("recipes", "spoof").glob("*.yaml")):
        config = SpoofStudyConfig.from_yaml(recipe)
        assert config.train.batch_size == 32 and config.train.lr == 1e-3
        assert config.beta == (16.0 if "-seeds" in recipe.stem else 1.0)  # the paper's β, or the header's reason
    bad = tmp_path / "bad.yaml"
    bad.write_text("single_stacks: [B7]\n")
    with pytest.raises(Exception, match="B7"):
        SpoofStudyConfig.from_yaml(bad)


RESUME_SETTINGS = TrainSettings(batch_size=4, seed=1, width_lr=2e-2, num_workers=0)


@pytest.fixture(scope="module")
def crops(corpus):
    return (SpoofCrops(read_split(corpus, "train"), RATE, 0.5, random_crop=True, seed=1),
            SpoofCrops(read_split(corpus, "dev"), RATE, 0.5))


def train_drn(folder, crops):
    torch.manual_seed(0)
    model = MODELS.build("dyn_spoof_resnet34", channels=(4, 4, 8, 8), min_fraction=0.25)
    return model, spoof_train.train_run("DRN", model, *crops, 9, folder, RESUME_SETTINGS, eval_every=3, beta=1.0)


def test_killed_run_resumes_to_the_uninterrupted_result(crops, resumes_exactly):
    resumes_exactly(spoof_train, lambda folder: train_drn(folder, crops), at=6)


def test_progress_of_another_model_is_refused(crops, tmp_path):
    (tmp_path / "run").mkdir()  # an unfinished run whose progress is that of RN34, not of DRN34
    model = MODELS.build("spoof_resnet34", channels=(4, 4, 8, 8))
    save_progress(tmp_path / "run" / "progress.pt", 3, model, torch.optim.AdamW(model.parameters()))
    with pytest.raises(RuntimeError, match=r"(?s)progress\.pt: does not fit this run .*delete it"):
        train_drn(tmp_path / "run", crops)

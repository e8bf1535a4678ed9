"""Case study 1 (filter bank): a short run learns the target, and a larger β leaves a smaller width."""

import csv
import json

import pytest

from leanspeech.cli import main
from leanspeech.studies.filterbank import FilterbankStudyConfig, run_filterbank_study
from leanspeech.studies.filterbank_report import write_results


@pytest.fixture(scope="module")
def quick_result():
    return run_filterbank_study(FilterbankStudyConfig.quick(betas=(0.0, 0.03), factors=(2, 6)), progress=False)


@pytest.mark.slow
def test_learned_filterbank_approaches_the_target(quick_result):
    early = (quick_result.snapshot - quick_result.target).norm() / quick_result.target.norm()
    final = (quick_result.final - quick_result.target).norm() / quick_result.target.norm()
    assert quick_result.figure2_run.filterbank_error == pytest.approx(final.item())
    assert final < 0.75 * early
    fixed_width = next(run for run in quick_result.runs if run.beta == 0.0 and run.initial_factor == 6)
    assert fixed_width.filterbank_error < 0.3


@pytest.mark.slow
def test_larger_beta_leaves_a_smaller_width_never_below_the_minimum(quick_result):
    runs = {(run.beta, run.initial_factor): run for run in quick_result.runs}
    assert runs[0.0, 6].final_factor == 6.0 and runs[0.0, 6].live_units == 6 * 32
    assert runs[0.03, 6].final_factor < 4.5
    assert runs[0.03, 6].live_units < 6 * 32
    assert runs[0.03, 2].final_factor == 2.0  # the minimum width is 2N units


@pytest.mark.slow
def test_results_files_and_figures_are_written(quick_result, tmp_path):
    paths = write_results(quick_result, tmp_path)
    rows = list(csv.DictReader(open(paths["csv"])))
    assert len(rows) == 4 and {"beta", "initial_factor", "final_factor", "live_units"} <= set(rows[0])
    saved = json.loads(paths["json"].read_text())
    assert saved["config"]["steps"] == 800 and len(saved["runs"][0]["history"]) == 80
    for key in ("factors", "filterbanks"):
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_study_settings_are_refused():
    with pytest.raises(ValueError, match="fixed_steps"):
        FilterbankStudyConfig(steps=100, fixed_steps=100)
    assert main(["study", "filterbank", "--out", "unused", "--bands", "0"]) == 2


def test_study_command_has_help_with_examples(capsys):
    with pytest.raises(SystemExit):
        main(["study", "filterbank", "--help"])
    assert "leanspeech study filterbank --out" in capsys.readouterr().out


def test_command_line_scales_are_the_filterbank_scales():
    from leanspeech.audio.filterbanks import SCALES
    from leanspeech.studies import filterbank_cli

    assert filterbank_cli.SCALES == SCALES

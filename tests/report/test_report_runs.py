"""`leanspeech report`: reading run directories, Pareto fronts, tables, the HTML page in Chromium."""

from __future__ import annotations

import csv
import itertools
import json
import random
import shutil
import subprocess

import pytest
import torch

import leanspeech.models  # noqa: F401  (fills the registry)
from leanspeech.cli import main
from leanspeech.models.io import save_model
from leanspeech.profile import profile_model
from leanspeech.registry import MODELS
from leanspeech.report import build_report, pareto_front, read_run
from leanspeech.report.pareto import labelled, plot_front
from leanspeech.report.timing import interleaved_times


def brute_force_front(costs, values, higher):
    def beats(j, i):
        better = values[j] >= values[i] if higher else values[j] <= values[i]
        strictly = costs[j] < costs[i] or (values[j] > values[i] if higher else values[j] < values[i])
        return costs[j] <= costs[i] and better and strictly

    return sorted(i for i in range(len(costs)) if not any(beats(j, i) for j in range(len(costs)) if j != i))


@pytest.mark.parametrize("higher", [False, True])
def test_pareto_front_equals_brute_force(higher):
    rng = random.Random(3)
    for _ in range(50):
        n = rng.randint(1, 12)
        costs = [rng.choice([1.0, 2.0, 3.0, rng.random() * 5]) for _ in range(n)]
        values = [rng.choice([0.1, 0.2, rng.random()]) for _ in range(n)]
        front = pareto_front(costs, values, higher)
        # Ties: exact duplicates keep one representative, so compare the set of (cost, value) pairs.
        assert {(costs[i], values[i]) for i in front} == {(costs[i], values[i]) for i in brute_force_front(costs, values, higher)}
        assert [costs[i] for i in front] == sorted(costs[i] for i in front)


def test_interleaved_times_runs_every_call_once_per_round():
    order = []
    ticks = itertools.count()
    times = interleaved_times({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, repeats=3, warmup=1,
                              clock=lambda: float(next(ticks)))
    assert order == ["a", "b"] * 4
    assert times == {"a": [1.0] * 3, "b": [1.0] * 3}


def write_point(run_dir, **entry):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps(entry))
    return run_dir


@pytest.fixture
def runs(tmp_path):
    torch.manual_seed(0)
    vad_small = MODELS.build("crnn_vad", conv_channels=8, gru_hidden=8)
    vad_large = MODELS.build("crnn_vad", conv_channels=32, gru_hidden=32)
    small = write_point(tmp_path / "vad-small", task="vad", method="width",
                        metric={"name": "eer", "value": 0.12, "higher_is_better": False})
    save_model(vad_small, small / "model.pt")
    # The training engine's own metrics.json: the metric is the monitored best value.
    large = write_point(tmp_path / "vad-large", monitor="val/eer", mode="min", best={"val/eer": 0.08, "step": 10})
    save_model(vad_large, large / "model.pt")
    (large / "config.yaml").write_text("extra:\n  method: baseline\n")
    peers = write_point(tmp_path / "vad-study", points=[
        {"task": "vad", "name": "silero-vad", "kind": "peer", "metric": {"name": "eer", "value": 0.05, "higher_is_better": False},
         "complexity": {"flops_per_second": 3.1e8, "params": 3.1e5}},
        {"task": "vad", "name": "webrtc-vad", "kind": "peer", "metric": {"name": "eer", "value": 0.2, "higher_is_better": False}},
        {"task": "vad", "name": "broken", "metric": {"name": "eer"}},
    ])
    quality = write_point(tmp_path / "sqa", task="quality", method="bam", name="bam-8bit",
                          metric={"name": "pcc", "value": 0.81, "higher_is_better": True},
                          complexity={"params": 4.6e4, "flops_per_second": 2.0e6, "latency_ms": 1.5})
    (tmp_path / "unfinished").mkdir()
    return {"models": (vad_small, vad_large), "dirs": [small, large, peers, quality, tmp_path / "unfinished"]}


def test_read_run_forms(runs):
    small, large, peers, quality, unfinished = runs["dirs"]
    (point,), problems = read_run(small)
    assert (point.task, point.method, point.metric, point.value, point.higher_is_better) == ("vad", "width", "eer", 0.12, False)
    assert point.model_path.endswith("model.pt") and not problems
    (trained,), _ = read_run(large)
    assert (trained.task, trained.metric, trained.value, trained.method) == ("vad", "eer", 0.08, "baseline")
    found, problems = read_run(peers)
    assert [p.name for p in found] == ["silero-vad", "webrtc-vad"] and all(p.kind == "peer" for p in found)
    assert len(problems) == 1 and "points[2]" in problems[0].source and "'value'" in problems[0].reason
    assert read_run(unfinished) == ([], read_run(unfinished)[1]) and "no metrics.json" in read_run(unfinished)[1][0].reason


def test_report_tables_group_tasks_profile_models_and_list_incomplete_runs(runs, tmp_path):
    written = build_report(runs["dirs"], tmp_path / "out", latency=True, seconds=0.5, repeats=2)
    rows = list(csv.DictReader(written["csv"].open()))
    assert [r["task"] for r in rows] == ["quality"] + ["vad"] * 4
    by_name = {r["name"]: r for r in rows}
    for name, model in zip(("vad-small", "vad-large"), runs["models"]):
        expected = profile_model(model, seconds=0.5)
        assert float(by_name[name]["params"]) == expected.params.dense
        assert float(by_name[name]["flops_per_second"]) == pytest.approx(expected.per_second["flops"])
        assert float(by_name[name]["latency_ms"]) > 0 and float(by_name[name]["rtf"]) > 0
    assert by_name["bam-8bit"]["latency_ms"] == "1.5"  # stated by the run, not re-measured
    assert by_name["webrtc-vad"]["flops_per_second"] == ""  # a peer without a FLOP count stays unknown
    assert {"vad_flops_per_second", "vad_latency_ms", "quality_flops_per_second", "quality_latency_ms"} <= set(written)
    markdown = written["markdown"].read_text()
    assert "## quality" in markdown and "## vad" in markdown and "## Incomplete runs" in markdown
    assert "unfinished" in markdown and "points[2]" in markdown


def test_stack_series_are_read_and_crowded_plots_name_the_front_and_peers(tmp_path):
    stages = [{"task": "vad", "name": f"stack: {i}", "method": "width", "series": "stack",
               "metric": {"name": "eer", "value": 0.2 - 0.01 * i, "higher_is_better": False},
               "complexity": {"flops_per_second": 1e6 * (14 - i)}} for i in range(14)]
    peer = {"task": "vad", "name": "silero-vad", "kind": "peer", "metric": {"name": "eer", "value": 0.3,
            "higher_is_better": False}, "complexity": {"flops_per_second": 5e5}}
    points, _ = read_run(write_point(tmp_path / "stack", points=[*stages, peer]))
    assert {p.series for p in points[:-1]} == {"stack"} and points[-1].series == ""
    front = [points[i] for i in pareto_front([p.flops_per_second for p in points], [p.value for p in points], False)]
    assert [p.name for p in labelled(points, front)] == ["stack: 13", "silero-vad"]  # 15 points: crowded
    assert labelled(points[:5], front) == points[:5]
    assert plot_front(points, "flops_per_second", tmp_path / "front.png").stat().st_size > 0


def test_report_cli(runs, tmp_path, capsys):
    assert main(["report", *map(str, runs["dirs"][:2]), "-o", str(tmp_path / "cli"), "--seconds", "0.5"]) == 0
    assert "vad-small" in capsys.readouterr().out and (tmp_path / "cli" / "index.html").is_file()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium is not installed (apt-get install chromium)")
def test_html_page_renders_plots_and_table_in_headless_chromium(runs, tmp_path):
    written = build_report(runs["dirs"], tmp_path / "page", seconds=0.5)
    script = (
        "<script>window.onload=function(){var imgs=[].slice.call(document.images);"
        "document.title='loaded:'+imgs.filter(function(i){return i.complete&&i.naturalWidth>100}).length"
        "+' rows:'+document.querySelectorAll('table.results tbody tr').length;}</script>"
    )
    page = written["html"]
    page.write_text(page.read_text().replace("</body>", script + "</body>"))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    # 3 plots decoded by the browser (FLOP/s of both tasks; latency only where known: the quality run states
    # it, the VAD runs were not timed), 5 table rows (1 quality + 4 vad).
    assert "<title>loaded:3 rows:5</title>" in dom.stdout, dom.stderr[-2000:]
    shot = tmp_path / "page.png"
    subprocess.run([CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
                   capture_output=True, timeout=120)
    from PIL import Image

    pixels = Image.open(shot).convert("L")
    assert len(set(pixels.getdata())) > 20  # rendered content, not a blank page

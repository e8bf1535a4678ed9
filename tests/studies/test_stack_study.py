"""The stacked-compression study: stacked models save and load as what they are, recipes are checked before
any work, and a whole stack runs on a tiny corpus, resumes, and gives `leanspeech report` one point per stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import leanspeech.models  # noqa: F401
from leanspeech.cli import main
from leanspeech.errors import LeanspeechError, RecipeError
from leanspeech.models.io import load_model, save_model
from leanspeech.nn.binary import BinaryActivation
from leanspeech.nn.dgru import DGRU
from leanspeech.nn.dynamic_width import LayerWidth
from leanspeech.registry import MODELS
from leanspeech.report import read_run
from leanspeech.stack import apply_stack
from leanspeech.studies.stack_study import StackStudyConfig, run_stack_study


def width_learned_vad(path: Path) -> Path:
    """A small consolidated DynCRNNVAD saved like the bundled one."""
    torch.manual_seed(0)
    model = MODELS.build("dyn_crnn_vad", conv_channels=8, gru_hidden=8).eval()
    for module in model.modules():
        if isinstance(module, LayerWidth):
            module.set_relative_(0.5)
    return save_model(apply_stack(model, ["consolidate"]), path)


class CountingTask:
    """A task whose data is random audio and whose loss pulls every output towards 1."""

    metric, higher_is_better, seconds = "mean", True, 1.0

    def __init__(self, model):
        self.model = model

    def batches(self):
        while True:
            yield self.model.example_wav(0.5, batch=2, seed=torch.randint(1000, ()).item())

    def loss(self, model, wav):
        return (model.forward_wav(wav) - 1.0).pow(2).mean()

    def calibration(self, model, count):
        return [model.features(next(self.batches())) for _ in range(count)]


def test_dgru_and_binarized_models_save_and_load_as_stacked(tmp_path):
    base = load_model(width_learned_vad(tmp_path / "base.pt"))
    stacked = apply_stack(base, [{"name": "dgru", "update_percent": 50}, {"name": "binarize", "beta": 3.0}])
    loaded = load_model(save_model(stacked, tmp_path / "stacked.pt"))
    assert isinstance(loaded.gru, DGRU) and loaded.gru.update_percent == 50
    assert isinstance(loaded.conv_activation, BinaryActivation) and loaded.conv_activation.beta == 3.0
    assert loaded.get_config()["base"] == "consolidated"
    wav = base.example_wav(1.0)
    with torch.no_grad():
        torch.testing.assert_close(loaded.forward_wav(wav), stacked.forward_wav(wav), rtol=0, atol=0)


def test_channel_pruned_model_reloads_at_its_pruned_shape(tmp_path):
    torch.manual_seed(0)
    model = MODELS.build("quality_student", size="xxs").eval()
    features = model.example_input(1.0, batch=2)
    task = type("T", (), {"batches": lambda self: iter(lambda: features, None),
                          "loss": lambda self, m, x: m(x).pow(2).mean()})()
    pruned = apply_stack(model, [{"name": "prune", "sparsity": 0.3, "granularity": "channel",
                                  "step_fraction": 0.1, "finetune_steps": 1}], task)
    assert [c.out_channels for c in pruned.conv_layers()] != [c.out_channels for c in model.conv_layers()]
    loaded = load_model(save_model(pruned, tmp_path / "pruned.pt"))
    assert [c.out_channels for c in loaded.conv_layers()] == [c.out_channels for c in pruned.conv_layers()]
    with torch.no_grad():
        torch.testing.assert_close(loaded(features), pruned(features))


def test_finetune_and_int8_use_the_task(tmp_path):
    base = load_model(width_learned_vad(tmp_path / "base.pt"))
    task = CountingTask(base)
    tuned = apply_stack(base, [{"name": "finetune", "steps": 30, "lr": 1e-2}], task)
    wav = base.example_wav(1.0)
    with torch.no_grad():
        assert tuned.forward_wav(wav).mean() > base.forward_wav(wav).mean()  # pulled towards 1
        quantized = apply_stack(tuned, [{"name": "int8", "calibration_batches": 2}], task)
        assert (quantized.forward_wav(wav) - tuned.forward_wav(wav)).abs().max() < 0.1
    # the int8 model's state is what it deploys: front end + int8 graph, not the float copy beside it
    assert not any(key.startswith("float_model") for key in quantized.state_dict())
    with pytest.raises(Exception, match="int8 must be the last step"):
        apply_stack(quantized, [{"name": "finetune", "steps": 1}], task)


def test_recipes_are_checked_before_any_work():
    good = {"task": "vad", "steps": [{"name": "dgru", "update_percent": 50}, "int8"]}
    assert StackStudyConfig.from_dict(good).steps == good["steps"]
    with pytest.raises(RecipeError, match="int8 must be the last step"):
        StackStudyConfig.from_dict({"task": "vad", "steps": ["int8", "dgru"]})
    with pytest.raises(RecipeError, match="unknown step 'quantise'"):
        StackStudyConfig.from_dict({"task": "vad", "steps": ["quantise"]})
    with pytest.raises(RecipeError, match="unknown task 'asr'"):
        StackStudyConfig.from_dict({"task": "asr", "steps": ["int8"]})
    with pytest.raises(RecipeError, match="steps is empty"):
        StackStudyConfig.from_dict({"task": "vad"})


@pytest.mark.slow
def test_vad_stack_end_to_end_resumes_and_reports(tiny_corpus, tmp_path, capsys):
    base = width_learned_vad(tmp_path / "base.pt")
    recipe = tmp_path / "stack.yaml"
    recipe.write_text(f"task: vad\ntask_options: {{test_clips: 6, test_seconds: 2.0, mixing: {{rt60_range: [0, 4]}}}}\nbase: {base}\n"
                      "base_method: width\nlatency_repeats: 3\nsteps:\n  - {name: dgru, update_percent: 50}\n"
                      "  - {name: finetune, steps: 3}\n  - int8\n")
    out = tmp_path / "stack"  # (a 0.3-minute corpus has one test RIR, possibly above the paper's 1.5 s)
    assert main(["study", "stack", "--recipe", str(recipe), "--corpus", str(tiny_corpus), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| int8 | width+dgru+int8 |" in printed
    summary = json.loads((out / "results.json").read_text())
    stages = summary["stages"]
    assert [s["label"] for s in stages] == ["base", "dgru 50", "finetune 3", "int8"]
    assert all(0.0 <= s["scores"]["eer"] <= 1.0 and s["costs"]["latency_ms"] > 0 for s in stages)
    assert all(s["costs"]["runtime_latency_ms"] > 0 for s in stages)  # every VAD stage also streams
    assert stages[1]["costs"]["flops_per_second"] < stages[0]["costs"]["flops_per_second"]  # D-GRU counts less
    assert sorted(p.name for p in (out / "stages").glob("*.pt")) == ["1-dgru-50.pt", "2-finetune-3.pt"]
    points, incomplete = read_run(out)
    assert not incomplete and [p.method for p in points] == ["width", "width+dgru", "width+dgru", "width+dgru+int8"]

    (out / "stages" / "1-dgru-50.pt").unlink()  # resume: only the missing stage is recomputed
    before = (out / "stages" / "2-finetune-3.pt").stat().st_mtime_ns
    assert main(["study", "stack", "--recipe", str(recipe), "--corpus", str(tiny_corpus), "--out", str(out)]) == 0
    assert (out / "stages" / "2-finetune-3.pt").stat().st_mtime_ns == before
    recipe.write_text(recipe.read_text().replace("steps: 3}", "steps: 4}"))  # another stack: its stages are not reused
    with pytest.raises(RecipeError, match="were made with other steps"):
        run_stack_study(StackStudyConfig.from_yaml(recipe), tiny_corpus, out)


def quality_study_folder(folder: Path, model) -> Path:
    """What `leanspeech study quality` leaves for the stack: labelled segments and their cached features."""
    segments = folder / "segments"
    segments.mkdir(parents=True)
    lines = []
    for index, (split, count) in enumerate((("train", 12), ("test", 6))):
        generator = torch.Generator().manual_seed(index)
        torch.save(model.example_input(1.0, batch=count) + 0.1 * torch.randn(count, 120, 49, generator=generator),
                   segments / f"features-{split}.pt")
        pesq = (1.0 + 3.0 * torch.rand(count, generator=generator)).tolist()
        lines.append(json.dumps({"split": split, "index": 0, "path": f"{split}.wav", "starts": list(range(count)),
                                 "pesq": pesq, "problems": []}))
    (segments / "labels.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def test_quality_task_stacks_binary_maps_and_int8_on_cached_segments(tmp_path):
    from leanspeech.studies.stack_tasks import TASKS

    torch.manual_seed(0)
    model = MODELS.build("dnsmos_cnn", channels=(8, 8, 8, 16), dense=16).eval()
    task = TASKS.build("quality", corpus=tmp_path, out=tmp_path, study=quality_study_folder(tmp_path / "q", model),
                       batch_size=4)
    stacked = apply_stack(model, ["binarize", {"name": "finetune", "steps": 2}, {"name": "int8", "calibration_batches": 2}],
                          task)
    scores = task.score(stacked)
    assert getattr(stacked, "quantized", False) and set(scores) == {"pcc", "srcc", "mse"}
    assert -1.0 <= scores["pcc"] <= 1.0 and scores["mse"] > 0
    assert task.streaming(stacked) is None and task.inference(stacked)().shape == (1,)
    with pytest.raises(LeanspeechError, match="no cached features"):
        TASKS.build("quality", corpus=tmp_path, out=tmp_path, study=tmp_path / "missing")

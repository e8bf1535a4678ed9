"""Shared checks for task models: save/load round trip and TorchScript + ONNX export of `forward`."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import onnxruntime
import pytest
import torch

from leanspeech.models.base import SpeechModel
from leanspeech.models.io import load_model, save_model


def check_round_trip(model: SpeechModel, features: torch.Tensor, path: Path) -> None:
    model.eval()
    loaded = load_model(save_model(model, path))
    assert type(loaded) is type(model) and loaded.get_config() == model.get_config()
    with torch.no_grad():
        assert torch.equal(loaded(features), model(features))


def check_export(model: SpeechModel, traced_input: torch.Tensor, other_input: torch.Tensor, path: Path) -> None:
    """Trace on one input and run on another of a different length (time axis -1 is dynamic)."""
    model.eval()
    with torch.no_grad():  # BatchNorm statistics other than (0, 1), so that folding them is checked too
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit and the TorchScript ONNX exporter warn they are deprecated
        expected = model(other_input)
        scripted = torch.jit.trace(model, traced_input)
        torch.testing.assert_close(scripted(other_input), expected, rtol=1e-5, atol=1e-5)
        torch.onnx.export(
            model,
            (traced_input,),
            str(path),
            input_names=["features"],
            output_names=["output"],
            dynamic_axes={
                "features": {0: "batch", traced_input.dim() - 1: "frames"},
                "output": {axis: f"output_{axis}" for axis in range(expected.dim())},
            },
            opset_version=17,
            dynamo=False,
        )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"features": other_input.numpy()})
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-4, atol=1e-4)


@pytest.fixture
def round_trip(tmp_path: Path) -> Callable[[SpeechModel, torch.Tensor], None]:
    return lambda model, features: check_round_trip(model, features, tmp_path / "model.pt")


@pytest.fixture
def exported(tmp_path: Path) -> Callable[[SpeechModel, torch.Tensor, torch.Tensor], None]:
    return lambda model, traced, other: check_export(model, traced, other, tmp_path / "model.onnx")

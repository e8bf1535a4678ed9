"""The whole waveform → output path (front end included) of every task model exports to ONNX.

STFT/ISTFT on complex tensors do not export, but the real-valued front ends these models use do;
EnhanceGRU.enhance (iSTFT with the noisy phase) stays in PyTorch.
"""

import warnings

import numpy as np
import onnxruntime
import pytest
import torch
from torch import nn

from leanspeech.models.base import SpeechModel
from leanspeech.registry import MODELS

SMALL_CONFIGS = {
    "crnn_vad": {},
    "spoof_resnet34": {"channels": (5, 9, 17, 42)},
    "dnsmos_cnn": {},
    "enhance_gru": {"hidden": 64},
}


class FromWaveform(nn.Module):
    def __init__(self, model: SpeechModel):
        super().__init__()
        self.model = model

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.model.forward_wav(wav)


def test_the_configs_name_registered_models():
    import leanspeech.models  # noqa: F401  (fills the registry)

    assert set(SMALL_CONFIGS) <= set(MODELS.names())


@pytest.mark.parametrize("name", sorted(SMALL_CONFIGS))
def test_waveform_to_output_exports_to_onnx(name, tmp_path):
    torch.manual_seed(0)
    model = FromWaveform(MODELS.build(name, **SMALL_CONFIGS[name])).eval()
    traced, other = model.model.example_wav(1.0), model.model.example_wav(1.7, batch=2, seed=1)
    path = tmp_path / f"{name}.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript ONNX exporter warns that it is deprecated
        expected = model(other).numpy()
        torch.onnx.export(
            model, (traced,), str(path), input_names=["wav"], output_names=["output"],
            dynamic_axes={
                "wav": {0: "batch", 1: "samples"},
                "output": {axis: f"output_{axis}" for axis in range(expected.ndim)},
            },
            opset_version=17, dynamo=False,
        )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"wav": other.numpy()})
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)

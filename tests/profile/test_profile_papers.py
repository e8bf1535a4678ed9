"""The papers' own numbers, reproduced by the profiler on the reference architectures."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import leanspeech.models  # noqa: F401  (registers the models)
from leanspeech.compress.quantize import quantize_static
from leanspeech.profile import costs
from leanspeech.profile.model_profile import profile_model
from leanspeech.registry import MODELS


def test_dnsmos_cnn_reproduces_bam_table_1_and_memory():
    """bam-qat-sqp.md Table 1 (torchinfo's convention: a bias is one multiply-add per output; activations are
    the outputs of the conv and dense layers) and §4's memory per sample: 9.66 MB in float, 0.39 MB with
    1-bit activation maps, an 8-bit input spectrogram and 8-bit weights."""
    model = MODELS.build("dnsmos_cnn")
    features = torch.randn(1, 120, 449)  # 449 frames × 120 mel bands
    profile = profile_model(model, features)
    assert profile.complete
    assert profile.params.dense == 45_697
    assert profile.macs == 188_153_025
    assert profile.activations == 2_315_649
    assert round(profile.memory_bytes / 1e6, 2) == 9.66
    binary = profile_model(model, features, bits=1, input_bits=8, weight_bits=8)
    assert round(binary.memory_bytes / 1e6, 2) == 0.39
    int8 = profile_model(quantize_static(model.eval(), [torch.randn(2, 120, 449)]), features)
    assert int8.complete and (int8.macs, int8.activations) == (188_153_025, 2_315_649)
    assert int8.params.dense == 45_697 and int8.activation_bytes == 2_315_649  # one byte each


def test_gru_enhancer_reproduces_dgru_table_1_split():
    """dgru-speech-enhancement.md Table 1, GRU model: non-GRU 10.34 M MAC/s, GRU 124.98 M MAC/s at P = 100,
    with 84 / 69 / 53 % of all layers at P = 75 / 50 / 25 (the paper truncates). Convention: MACs of the
    two FC layers and the GRU gates with biases, 100 frames/s, front-end not included."""
    model = MODELS.build("enhance_gru")
    profile = profile_model(model, seconds=2.0)
    rates = {name: rate["macs"] / 1e6 for name, rate in profile.layer_per_second.items()}
    non_gru, gru = rates["input_fc"] + rates["mask_fc"], rates["rnn"]
    assert non_gru == pytest.approx(100 * (161 * 320 + 320 + 320 * 161 + 161) / 1e6)
    assert gru == pytest.approx(100 * 2 * (3 * 320 * 640 + 6 * 320) / 1e6)
    assert round(non_gru, 2) == pytest.approx(10.34, abs=0.011)
    assert gru == pytest.approx(124.98, rel=0.015)  # see docs/profiler.md: the paper's GRU column is 1.4 % higher
    assert profile.params.dense == pytest.approx(1.34e6, abs=5e3)
    for percent, paper_share in ((75, 84), (50, 69), (25, 53)):
        scaled = gru * costs.gru_cost(1, 1, 320, 320, 2, update_fraction=percent / 100).macs / costs.gru_cost(
            1, 1, 320, 320, 2).macs
        assert int(100 * (non_gru + scaled) / (non_gru + gru)) == paper_share


def conv_weight_macs_seen_by_torch(model, wav) -> tuple[float, float]:
    """(torch's convolution MACs, bias adds of the convolutions) on one forward."""
    bias_adds = []
    hooks = [m.register_forward_hook(lambda m, i, o: bias_adds.append(o.numel()))
             for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d)) and m.bias is not None]
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.forward_wav(wav)
    for hook in hooks:
        hook.remove()
    return counter.get_flop_counts()["Global"][torch.ops.aten.convolution] / 2, sum(bias_adds)


@pytest.mark.parametrize("channels", [(32, 64, 128, 256), (5, 9, 17, 42)])
def test_resnet34_widths_of_the_width_paper_are_counted_completely(channels):
    """width-noise-injection.md §VI: RN34 {32, 64, 128, 256} and the learned DRN34 BX 12.5 {5, 9, 17, 42}."""
    model = MODELS.build("spoof_resnet34", channels=channels).eval()
    profile = profile_model(model, seconds=0.5)
    assert profile.complete
    conv_macs = sum(r.macs for r in profile.layers if r.kind in ("Conv1d", "Conv2d"))
    torch_macs, bias_adds = conv_weight_macs_seen_by_torch(model, model.example_wav(0.5))
    assert conv_macs == torch_macs + bias_adds

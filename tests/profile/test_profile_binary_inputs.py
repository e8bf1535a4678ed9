"""A plain conv fed by a binary activation map counts its weight products as binary MACs."""

import torch
from torch import nn

import leanspeech.models  # noqa: F401  (registers the models)
from leanspeech.profile import profile_model
from leanspeech.registry import MODELS


def test_convs_after_binary_activations_report_binary_macs():
    model = MODELS.build("dnsmos_cnn", activation="BinaryActivation", pool="avg").eval()
    result = profile_model(model, torch.randn(1, 120, 449))
    # Table 1 shapes: convs 2-4 see binary maps of 32 channels (3x3 kernels: 288 products per output);
    # conv 1 sees the log-mel input and stays full precision.
    expected = 288 * (32 * 224 * 60 + 32 * 112 * 30 + 64 * 56 * 15)
    assert result.binary_macs == expected


def test_conv_on_real_valued_input_has_no_binary_macs():
    conv = nn.Conv2d(2, 4, 3, padding=1)
    x = torch.randn(1, 2, 5, 5)
    assert profile_model(conv, x).binary_macs == 0
    assert profile_model(conv, (x > 0).float()).binary_macs == 4 * 25 * 18

"""Layers fed by a binary activation map (convs, GRUs, D-GRUs) count their input products as binary MACs."""

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


def test_gru_on_a_binary_map_counts_its_input_products_as_binary():
    gru = nn.GRU(6, 5, num_layers=2, batch_first=True, bidirectional=True)
    x = torch.randn(2, 7, 6)
    dense, binary = profile_model(gru, (x,)), profile_model(gru, ((x > 0).float(),))
    products = 7 * 2 * 3 * 5 * 6  # per sample: steps · directions · 3 gates · hidden · input (first layer only)
    assert dense.binary_macs == 0 and binary.binary_macs == products
    assert binary.macs == dense.macs - products and binary.flops == dense.flops


def test_dgru_on_a_binary_map_counts_the_input_products_it_computes_as_binary():
    from leanspeech.nn import DGRU

    dgru = DGRU(6, 8, batch_first=True, update_percent=50)
    x = torch.randn(2, 7, 6)
    dense, binary = profile_model(dgru, (x,)), profile_model(dgru, ((x > 0).float(),))
    products = 7 * 3 * 8 * 6 * (1 + 2 * 0.5) / 3  # z for every neuron, r and n for the selected half
    assert dense.binary_macs == 0 and binary.binary_macs == products
    assert binary.macs == dense.macs - products and binary.flops == dense.flops

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from leanspeech.compress.binarize import binarize_activations, binarize_weights, conv_activations
from leanspeech.models.quality_cnn import QualityCNN
from leanspeech.nn.binary import BinaryActivation, BinaryActivationSTE, BinaryConv2d


def test_post_training_binarization_swaps_conv_activations_only():
    torch.manual_seed(0)
    model = QualityCNN().eval()
    assert conv_activations(model) == [f"blocks.{i}.activation" for i in range(4)]
    binary = binarize_activations(model, beta=3.0)
    for i in range(4):
        assert isinstance(binary.blocks[i].activation, BinaryActivation) and binary.blocks[i].activation.beta == 3.0
        assert isinstance(model.blocks[i].activation, nn.ReLU)  # the original is left as it was
    assert [type(m) for m in binary.dense] == [type(m) for m in model.dense]
    # weights unchanged: each binary map equals H(pre-activation) of the float model's own conv
    x = torch.randn(2, 120, 30)
    pre, maps = [], []
    model.blocks[0].conv.register_forward_hook(lambda m, i, o: pre.append(o))
    binary.blocks[0].activation.register_forward_hook(lambda m, i, o: maps.append(o))
    model(x), binary(x)
    assert torch.equal(maps[0], (pre[0] > 0).float())


def test_surrogate_choice_and_explicit_names():
    model = QualityCNN()
    ste = binarize_activations(model, surrogate="ste")
    assert all(isinstance(ste.blocks[i].activation, BinaryActivationSTE) for i in range(4))
    only_dense = binarize_activations(model, names=["dense.1"])
    assert isinstance(only_dense.dense[1], BinaryActivation) and isinstance(only_dense.blocks[0].activation, nn.ReLU)
    with pytest.raises(ValueError, match="no module named 'blocks.9'"):
        binarize_activations(model, names=["blocks.9"])
    with pytest.raises(ValueError, match="surrogate"):
        binarize_activations(model, surrogate="tanh")
    with pytest.raises(ValueError, match="no activation follows a convolution"):
        binarize_activations(nn.Sequential(nn.Linear(3, 3), nn.ReLU()))


def test_binarize_weights_swaps_convs_and_keeps_latent_weights():
    torch.manual_seed(0)
    model = QualityCNN(activation="BinaryActivation", pool="avg").eval()
    binary = binarize_weights(model, beta=2.0)
    for i in range(4):
        conv, original = binary.blocks[i].conv, model.blocks[i].conv
        assert isinstance(conv, BinaryConv2d) and conv.beta == 2.0
        assert torch.equal(conv.weight, original.weight) and torch.equal(conv.bias, original.bias)
    x = torch.randn(1, 1, 12, 10)
    conv, original = binary.blocks[0].conv, model.blocks[0].conv
    scale = math.sqrt(2 / 9)
    torch.testing.assert_close(conv(x), F.conv2d(x, original.weight.sign() * scale, original.bias, padding=1))
    assert not any(isinstance(m, BinaryConv2d) for m in model.modules())

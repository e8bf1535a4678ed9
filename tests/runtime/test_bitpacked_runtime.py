import numpy as np
import pytest
import torch
from torch.nn import functional as F

from leanspeech.compress.binarize import binarize_weights
from leanspeech.models.quality_cnn import QualityCNN
from leanspeech.runtime.bitpacked import (
    BitpackedQualityCNN, _or_pool, dequantize_input, quantize_input, torch_activation_memory,
)


def _features(frames: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(1, 120, frames, generator=torch.Generator().manual_seed(seed)) * 3


@pytest.mark.parametrize("pool, binary_weights", [("avg", False), ("max", True)])
def test_bitpacked_runtime_equals_float_reference(pool, binary_weights):
    torch.manual_seed(0)
    model = QualityCNN(activation="BinaryActivation", pool=pool).eval()
    model = binarize_weights(model).eval() if binary_weights else model
    x = _features(101)
    with torch.no_grad():
        reference = model(x).item()
    assert abs(BitpackedQualityCNN.from_model(model)(x[0].numpy()) - reference) < 1e-5


def test_eight_bit_input_equals_reference_on_dequantized_input():
    torch.manual_seed(1)
    model = QualityCNN(activation="BinaryActivationSTE", pool="avg").eval()
    x = _features(64, seed=3)[0].numpy()
    codes, scale, offset = quantize_input(x)
    assert codes.dtype == np.uint8 and np.abs(dequantize_input(codes, scale, offset) - x).max() <= scale / 2 + 1e-5
    with torch.no_grad():
        reference = model(torch.from_numpy(dequantize_input(codes, scale, offset))[None]).item()
    assert abs(BitpackedQualityCNN.from_model(model, input_bits=8)(x) - reference) < 1e-5


def test_or_pool_on_packed_bytes_equals_max_pool():
    bits = torch.rand(1, 24, 9, 7) > 0.5
    packed = np.packbits(bits[0].permute(1, 2, 0).numpy(), axis=-1)
    pooled = np.unpackbits(_or_pool(packed), axis=-1, count=24)
    expected = F.max_pool2d(bits.float(), 2)[0].permute(1, 2, 0).numpy()
    assert np.array_equal(pooled, expected)


def test_activation_memory_of_a_9_second_clip():
    model = QualityCNN(activation="BinaryActivation", pool="avg").eval()
    x = _features(449)
    fp32 = torch_activation_memory(QualityCNN().eval(), x)
    # eager fp32 tensors: input, conv and ReLU outputs of each block, pooled maps, global pool, dense outputs
    maps = [449 * 120 * 32, 224 * 60 * 32, 112 * 30 * 32, 56 * 15 * 64]
    pooled = [224 * 60 * 32, 112 * 30 * 32, 56 * 15 * 32]
    elements = 449 * 120 + 2 * sum(maps) + sum(pooled) + 64 + 4 * 64 + 1
    assert fp32.total_bytes == 4 * elements
    assert fp32.peak_bytes == 4 * 2 * maps[0]  # conv1 output and its ReLU output
    _, packed = BitpackedQualityCNN.from_model(model, input_bits=8).run(x[0].numpy())
    assert packed.sizes["input"] == 449 * 120
    assert [packed.sizes[f"conv{i}"] for i in range(4)] == [m // 8 for m in maps]
    assert [packed.sizes[f"pool{i}"] for i in range(3)] == [p // 8 for p in pooled]
    assert fp32.peak_bytes / packed.peak_bytes > 25 and fp32.total_bytes / packed.total_bytes > 25


def test_float_model_is_refused():
    with pytest.raises(ValueError, match="blocks\\[0\\].activation is ReLU"):
        BitpackedQualityCNN.from_model(QualityCNN())


@pytest.mark.parametrize("input_bits", [32, 8])
def test_bitpacked_runtime_standardises_its_input_as_the_model_does(input_bits):
    torch.manual_seed(2)
    model = QualityCNN(activation="BinaryActivation", pool="avg", input_mean=-8.0, input_std=5.0).eval()
    x = _features(80, seed=4) - 8.0
    codes, scale, offset = quantize_input(x[0].numpy())
    seen = torch.from_numpy(dequantize_input(codes, scale, offset))[None] if input_bits == 8 else x
    with torch.no_grad():
        reference = model(seen).item()
    assert abs(BitpackedQualityCNN.from_model(model, input_bits=input_bits)(x[0].numpy()) - reference) < 1e-4

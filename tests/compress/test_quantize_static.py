import pytest
import torch
from torch.ao.nn import quantized as nnq

from leanspeech.compress.quantize import quantize_static, serialized_bytes
from leanspeech.models.quality_cnn import QualityCNN
from leanspeech.nn.binary import BinaryActivation


def _log_mels(batch: int, seed: int) -> torch.Tensor:
    # log-mel-like inputs spanning levels, so that a random-weight model's output actually varies
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 120, 120, generator=g) * 3 + torch.linspace(-5, 5, batch)[:, None, None]


def _pcc(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.corrcoef(torch.stack([a, b]))[0, 1].item()


@pytest.mark.slow
def test_int8_model_tracks_float_and_is_smaller():
    torch.manual_seed(0)
    model = QualityCNN().eval()
    quantized = quantize_static(model, [_log_mels(4, seed) for seed in range(2)])
    x = _log_mels(16, 99)
    with torch.no_grad():
        reference, output = model(x), quantized(x)
    # 7 chained int8 layers on a random-init net whose output spread is small (std ≈ 0.005): each
    # requantization adds ~range/255 noise, so 0.98 rather than the 0.99 a trained net usually reaches
    assert _pcc(reference, output) > 0.98
    assert (output - reference).abs().max() < 0.5 * (reference.max() - reference.min())
    convs = [m for m in quantized.modules() if isinstance(m, nnq.Conv2d)]
    assert len(convs) == 4 and all(c.weight().dtype == torch.qint8 for c in convs)
    float_weights = sum(m.weight.numel() * 4 for m in model.modules() if hasattr(m, "weight") and m is not model.frontend)
    int8_weights = sum(c.weight().int_repr().numel() for c in convs) + sum(
        m.weight().int_repr().numel() for m in quantized.modules() if isinstance(m, nnq.Linear)
    )
    assert float_weights == 4 * int8_weights
    # the checkpoint also stores per-channel scales, float biases and pickling overhead: ~2.9x, not 4x
    assert serialized_bytes(quantized) * 2.5 < serialized_bytes(torch.fx.symbolic_trace(model))


def test_bam_model_with_int8_weights_keeps_binary_activations_float():
    torch.manual_seed(0)
    model = QualityCNN(activation="BinaryActivation", pool="avg").eval()
    quantized = quantize_static(model, [_log_mels(8, seed) for seed in range(3)], observer="minmax")
    assert sum(isinstance(m, nnq.Conv2d) for m in quantized.modules()) == 4
    activations = [m for m in quantized.modules() if isinstance(m, BinaryActivation)]
    assert len(activations) == 4
    maps = []
    model.blocks[0].activation.register_forward_hook(lambda m, i, o: maps.append(o))
    activations[0].register_forward_hook(lambda m, i, o: maps.append(o))
    with torch.no_grad():
        model(_log_mels(4, 99)), quantized(_log_mels(4, 99))
    assert maps[1].dtype == torch.float32 and set(maps[1].unique().tolist()) == {0.0, 1.0}
    # int8 weights and pre-activations flip only the Heaviside of values within a quantization step of 0
    assert (maps[0] == maps[1]).float().mean() > 0.98

"""The fused int8 stem (runtime/int8_stem.py, int8_stem.c): every instruction-set variant against exact
integer arithmetic and against PyTorch's int8 convolution + ReLU + max pooling, on odd and even shapes,
strided inputs and several channel counts; the graph pass that swaps it into a quantized DNSMOS CNN; the
fallbacks."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.ao.nn.intrinsic.quantized import ConvReLU2d

from leanspeech.compress.quantize import quantize_static
from leanspeech.models.quality_cnn import QualityCNN
from leanspeech.runtime import int8_stem, native
from leanspeech.runtime.int8_stem import Int8Stem, fuse_int8_stems

VARIANTS = ("avx512vnni", "portable")


@pytest.fixture
def restore_variant():
    chosen = native.stem_variant()
    yield
    native.use_stem_variant(chosen)


def _stem_conv(channels: int, seed: int, out_zero_point: int = 5) -> ConvReLU2d:
    torch.backends.quantized.engine = "x86"
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(channels, 1, 3, 3, generator=g)
    scales = weight.abs().amax((1, 2, 3)).double() / 127
    conv = ConvReLU2d(1, channels, 3, padding=1)
    conv.set_weight_bias(torch.quantize_per_channel(weight, scales, torch.zeros(channels, dtype=torch.long), 0,
                                                    torch.qint8), torch.randn(channels, generator=g))
    conv.scale, conv.zero_point = 0.04, out_zero_point
    return conv


def _image(batch: int, rows: int, cols: int, seed: int, transposed: bool, seven_bit: bool = False) -> torch.Tensor:
    """A quint8 log-mel-like image; `seven_bit`: codes 0..127 only, as quantize_static's x86 qconfig
    (reduce_range) gives activations."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, cols, rows, generator=g) * 2 + 0.5
    scale, zero_point = (0.06, 58) if seven_bit else (0.03, 117)
    if seven_bit:
        x = x.clamp(-zero_point * scale, (127 - zero_point) * scale)
    q = torch.quantize_per_tensor(x, scale, zero_point, torch.quint8)
    # the quantized DNSMOS CNN feeds its stem a transposed view (B, T, mels) of a (B, mels, T) tensor
    return q.transpose(1, 2).unsqueeze(1) if transposed else q.transpose(1, 2).contiguous().unsqueeze(1)


def _exact(conv: ConvReLU2d, pool: nn.MaxPool2d, x: torch.Tensor) -> torch.Tensor:
    """The output codes of convolution + ReLU + pooling in exact integer arithmetic (float64 holds every
    sum), requantized once. PyTorch's x86 kernels give these only where sums of two 8-bit products cannot
    overflow int16: with AVX-512 VNNI, or for 7-bit activations; on AVX2 alone a full-range input
    saturates them (vpmaddubsw), which is why PyTorch's x86 qconfig reduces the activations' range."""
    weight = conv.weight()
    sums = F.conv2d(x.int_repr().double() - x.q_zero_point(), weight.int_repr().double(), padding=conv.padding)
    scales = x.q_scale() * weight.q_per_channel_scales().double().view(1, -1, 1, 1)
    real = sums * scales + conv.bias().double().view(1, -1, 1, 1)
    codes = torch.clamp(torch.round(real / conv.scale) + conv.zero_point, conv.zero_point, 255)
    return pool(codes).int()


def _assert_same_integers(got: torch.Tensor, expected: torch.Tensor) -> None:
    assert got.shape == expected.shape and got.q_scale() == expected.q_scale()
    assert got.q_zero_point() == expected.q_zero_point()
    _assert_same_codes(got.int_repr().int(), expected.int_repr().int())


def _assert_same_codes(got: torch.Tensor, expected: torch.Tensor) -> None:
    difference = (got - expected).abs()
    # the same arithmetic in float; a rounding tie may go the other way in another order of operations
    assert difference.max() <= 1 and (difference > 0).float().mean() < 1e-4


def test_the_stem_kernel_is_built():
    assert native.stem is not None, native.unavailable_reason
    assert native.stem_variant() in VARIANTS


SHAPES = [
    (1, 449, 120, 32, True),   # the DNSMOS CNN on a 9 s clip
    (3, 17, 9, 16, True),      # odd sizes: the last row and column are dropped by the pooling
    (2, 8, 30, 48, False),     # contiguous input, three channel blocks
    (1, 2, 2, 16, False),      # the smallest image that pools to one output
]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("batch,rows,cols,channels,transposed", SHAPES)
def test_every_variant_gives_exact_and_pytorchs_integers(variant, batch, rows, cols, channels, transposed,
                                                         restore_variant):
    """Full-range 8-bit input (codes 0..255) against exact integer arithmetic; 7-bit activations, as
    quantize_static gives them on x86, against PyTorch's kernels, which are exact there on any CPU."""
    if not native.use_stem_variant(variant):
        pytest.skip(f"this CPU or build has no {variant} variant")
    conv, pool = _stem_conv(channels, seed=rows), nn.MaxPool2d(2)
    stem = Int8Stem(conv, pool)
    full_range, seven_bit = (_image(batch, rows, cols, cols, transposed, seven_bit=s) for s in (False, True))
    with torch.inference_mode():
        got = stem(full_range)
        assert got.is_contiguous(memory_format=torch.channels_last)
        assert got.q_scale() == conv.scale and got.q_zero_point() == conv.zero_point
        _assert_same_codes(got.int_repr().int(), _exact(conv, pool, full_range))
        _assert_same_integers(stem(seven_bit), pool(conv(seven_bit)))


def test_requantization_follows_the_inputs_quantization(restore_variant):
    """The zero-point correction and multiplier depend on the input's scale and zero point: a second
    input quantized differently must not reuse the first one's."""
    native.use_stem_variant("portable")
    conv, pool = _stem_conv(16, seed=1), nn.MaxPool2d(2)
    stem = Int8Stem(conv, pool)
    x = torch.randn(2, 1, 12, 10)
    with torch.inference_mode():
        for scale, zero_point in ((0.02, 100), (0.05, 7)):
            q = torch.quantize_per_tensor(x, scale, zero_point, torch.quint8)
            _assert_same_codes(stem(q).int_repr().int(), _exact(conv, pool, q))


def test_quantized_dnsmos_cnn_gets_the_stem_and_the_same_output():
    if native.stem_variant() != "avx512vnni":
        pytest.skip("the stem is fused only where AVX-512 VNNI runs")
    torch.manual_seed(0)
    model = QualityCNN().eval()
    calibration = [torch.randn(4, 120, 60) * 3 - 10 for _ in range(2)]
    fused = quantize_static(model, calibration)
    plain = quantize_static(model, calibration, fuse_stem=False)
    stems = [m for m in fused.modules() if isinstance(m, Int8Stem)]
    assert len(stems) == 1 and not any(isinstance(m, Int8Stem) for m in plain.modules())
    assert fused.state_dict().keys() == plain.state_dict().keys()  # the same checkpoint
    x = torch.randn(3, 120, 61) * 3 - 10
    with torch.inference_mode():
        assert torch.allclose(fused(x), plain(x), atol=1e-6)


def test_nothing_is_fused_without_the_vnni_kernel_or_the_pattern(monkeypatch):
    torch.manual_seed(0)
    calibration = [torch.randn(4, 120, 40) * 3 - 10]
    bam = quantize_static(QualityCNN(activation="BinaryActivation", pool="avg").eval(), calibration,
                          observer="minmax", fuse_stem=False)
    assert fuse_int8_stems(bam) == []  # binary activations between convolution and pooling
    plain = quantize_static(QualityCNN().eval(), calibration, fuse_stem=False)
    monkeypatch.setattr(native, "stem_variant", lambda: "portable")
    assert fuse_int8_stems(plain) == []


def test_falls_back_to_pytorch_beyond_its_thread_count_and_for_other_inputs(monkeypatch):
    conv, pool = _stem_conv(16, seed=3), nn.MaxPool2d(2)
    stem = Int8Stem(conv, pool)
    x = _image(2, 10, 12, seed=0, transposed=True)
    monkeypatch.setattr(int8_stem, "MAX_THREADS", 0)
    monkeypatch.setattr(native, "stem", None)  # would fail if called
    with torch.inference_mode():
        assert torch.equal(stem(x).int_repr(), pool(conv(x)).int_repr())
    monkeypatch.setattr(int8_stem, "MAX_THREADS", 64)
    wide = torch.quantize_per_tensor(torch.randn(1, 2, 6, 6), 0.1, 10, torch.quint8)
    with pytest.raises(RuntimeError):  # not a one-channel image: PyTorch's own error, as unfused
        stem(wide)


def test_refuses_a_layer_it_does_not_compute():
    conv = _stem_conv(16, seed=0)
    with pytest.raises(ValueError, match="MaxPool2d"):
        Int8Stem(conv, nn.MaxPool2d(3))
    wide = ConvReLU2d(1, 20, 3, padding=1)  # 20 output channels: not in blocks of 16
    with pytest.raises(ValueError):
        Int8Stem(wide, nn.MaxPool2d(2))

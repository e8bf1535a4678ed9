"""Enhancement losses against hand-computed values."""

import pytest
import torch

import leanspeech.train.enhance_losses  # noqa: F401  (registers the losses)
from leanspeech.train.losses import LOSSES

# One bin per spectrum: estimate 3 + 4j (|.| = 5), target 0 + 1j (|.| = 1), and a second bin 1 + 0j vs 1 + 0j.
ESTIMATE = torch.tensor([[3.0, 1.0], [4.0, 0.0]]).reshape(1, 2, 2, 1)  # (B, 2, F, T)
TARGET = torch.tensor([[0.0, 1.0], [1.0, 0.0]]).reshape(1, 2, 2, 1)


def test_magnitude_mse_by_hand():
    loss = LOSSES.build("magnitude_mse")
    estimate, target = torch.tensor([[[5.0, 1.0]]]), torch.tensor([[[1.0, 3.0]]])
    assert loss(estimate, target).item() == pytest.approx((16 + 4) / 2)


def test_complex_mse_by_hand():
    # squared errors: real (3, 0), imaginary (9, 0) over 4 elements
    assert LOSSES.build("complex_mse")(ESTIMATE, TARGET).item() == pytest.approx((9 + 9) / 4)


def test_magnitude_complex_mse_is_the_mean_of_both():
    magnitude = ((5 - 1) ** 2 + (1 - 1) ** 2) / 2  # 8
    complex_part = 18 / 4
    got = LOSSES.build("magnitude_complex_mse")(ESTIMATE, TARGET).item()
    assert got == pytest.approx((magnitude + complex_part) / 2, rel=1e-6)


def test_complex_dtype_equals_stacked_parts_and_gradients_are_finite_at_zero():
    estimate = torch.complex(ESTIMATE[:, 0], ESTIMATE[:, 1])
    target = torch.complex(TARGET[:, 0], TARGET[:, 1])
    loss = LOSSES.build("magnitude_complex_mse")
    assert loss(estimate, target).item() == pytest.approx(loss(ESTIMATE, TARGET).item())
    zero = torch.zeros(1, 2, 2, 1, requires_grad=True)
    loss(zero, TARGET).backward()
    assert torch.isfinite(zero.grad).all()


def test_wrong_layout_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\(B, 2, F, T\) spectrum, got shape \(1, 3, 2, 1\)"):
        LOSSES.build("complex_mse")(torch.zeros(1, 3, 2, 1), torch.zeros(1, 3, 2, 1))

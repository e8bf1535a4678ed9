"""A learnable layer width by feature-noise injection (width-noise-injection.md, Sec. III-A, Eq. 1).

How the width is parameterised
------------------------------
A layer with N units owns one trainable scalar, its relative width λ ∈ [min_fraction, 1] (the
"λ parameter" that the paper's penalty β/N·Σλ² and its "minimum allowed complexity" refer to: 1.0 at
the start, 0.7 when 30 % of the capacity is gone). The real width is K = λ·N, never below one unit.
`project_()` keeps λ inside its range after each optimiser step (a clamp in the forward pass alone
would let λ drift out of range where it gets no gradient).

Units are ordered: the removable ones are at the end. With K = ⌊K⌋ + f (0-indexed units):
  - units 0 … ⌊K⌋−1 pass unchanged,
  - unit ⌊K⌋ carries η = √f·ξ + √(1−f)·σ_ξ·ν in training (ν ~ N(0, 1); σ_ξ is that unit's standard
    deviation over the batch, detached so the noise scale is not itself trained) and √f·ξ at eval,
    which is η's expectation given ξ,
  - all later units are exactly zero.
The information carried is ⌊K⌋ + f = K units (Eq. 3: the boundary unit's normalised MMSE error is
1−f), continuous and increasing in K, so the task loss pulls K up and the penalty pulls it down.
Eq. 1 as printed puts noise fraction f on unit ⌊K⌋ after ⌊K⌋−1 clean units, which makes the
information ⌊K⌋−f fall as K rises inside each integer step; the indexing above is the one under
which the paper's own statement "the effective dimensionality of x_K is K" holds.

At eval the layer is exactly the plain layer with ⌈K⌉ units whose last unit's weights are scaled by
√f, which is what consolidation builds.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

# Fractional parts closer than this to 0 count as 0: K = 0.8·80 must give 64 units, not 65.
FRACTION_SNAP = 1e-6
# Keeps d√f/df finite at the ends of each integer step.
SQRT_EPS = 1e-6


def split_width(k: Tensor) -> tuple[int, Tensor]:
    """K → (number of clean units ⌊K⌋, fractional part f as a differentiable tensor)."""
    whole = math.floor(float(k.detach()) + FRACTION_SNAP)
    return whole, (k - whole).clamp_min(0.0)


def inject_width_noise(y: Tensor, k: Tensor, dim: int, training: bool) -> Tensor:
    """Apply Eq. 1 along `dim` of `y`, which holds only the first ⌈K⌉ units (the rest are zero)."""
    whole, fraction = split_width(k)
    if y.size(dim) == whole:  # K is an integer: no boundary unit
        return y
    if y.size(dim) != whole + 1:
        raise ValueError(f"expected {whole + 1} live units along dim {dim} for K={float(k):.4f}, got {y.size(dim)}")
    clean, boundary = y.split([whole, 1], dim=dim)
    eta = boundary * fraction.clamp_min(SQRT_EPS).sqrt()
    if training:
        sigma = boundary.detach().std(unbiased=False) if boundary.numel() > 1 else boundary.detach().abs().mean()
        eta = eta + (1.0 - fraction).clamp_min(SQRT_EPS).sqrt() * sigma * torch.randn_like(boundary)
    return torch.cat([clean, eta], dim=dim)


def pad_units(y: Tensor, units: int, dim: int) -> Tensor:
    """Append zero units along `dim` up to `units`, so plain layers downstream see a fixed shape."""
    missing = units - y.size(dim)
    if missing == 0:
        return y
    shape = list(y.shape)
    shape[dim] = missing
    return torch.cat([y, y.new_zeros(shape)], dim=dim)


class LayerWidth(nn.Module):
    """The learnable width of one layer: λ ∈ [min_fraction, 1], K = λ·N (at least one unit)."""

    def __init__(self, units: int, min_fraction: float = 0.0625):
        super().__init__()
        if units < 1:
            raise ValueError(f"a dynamic layer needs at least one unit, got {units}")
        if not 0.0 < min_fraction <= 1.0:
            raise ValueError(f"min_fraction must be in (0, 1], got {min_fraction}")
        self.units = units
        self.min_fraction = max(min_fraction, 1.0 / units)
        self.fraction = nn.Parameter(torch.ones(()))

    def relative(self) -> Tensor:
        """λ, clamped into range (differentiable; the clamp passes gradients at its bounds)."""
        return self.fraction.clamp(self.min_fraction, 1.0)

    def k(self) -> Tensor:
        return self.relative() * self.units

    def live_units(self) -> int:
        """⌈K⌉: units whose output is not identically zero."""
        whole, fraction = split_width(self.k().detach())
        return min(self.units, whole + (1 if float(fraction) > FRACTION_SNAP else 0))

    def boundary_gain(self) -> float:
        """Eval-time factor √f of the last live unit (1.0 when K is an integer)."""
        whole, fraction = split_width(self.k().detach())
        return 1.0 if whole == self.live_units() else math.sqrt(max(float(fraction), SQRT_EPS))

    def forward(self, y: Tensor, dim: int) -> Tensor:
        """Eq. 1 on the live units `y`, then zero-padded back to N units along `dim`."""
        return pad_units(inject_width_noise(y, self.k(), dim, self.training), self.units, dim)

    @torch.no_grad()
    def project_(self) -> None:
        self.fraction.clamp_(self.min_fraction, 1.0)

    @torch.no_grad()
    def set_relative_(self, value: float) -> None:
        self.fraction.fill_(value)
        self.project_()

    def extra_repr(self) -> str:
        return f"units={self.units}, min_fraction={self.min_fraction:g}, live={self.live_units()}"

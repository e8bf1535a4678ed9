"""Case study 1 of width-noise-injection.md (Sec. IV): a dynamic layer learns a known filter bank.

White noise is filtered by a target filter bank ϕ (Bark, mel or ERB; N bands over the magnitude
spectrum of a 512-point FFT); a linear network learns ϕ from the unfiltered noise with the L1 loss
of Eq. 4, scaled by 1e-3 as in the paper's β sweep. The loss compares N bands, so a dynamic layer of
M = factor·N units needs a read-out back to N: the network is DynamicLinear(257 → M, no bias)
followed by AdaptiveLinear(M → N, no bias), whose product is the learned filter bank. N units are
the minimum necessary capacity, so the overparameterization factor (Eq. 5) is K/N. The minimum
width is 2N units (a factor of at least 2), as in the paper. Adam (lr 1e-3); the penalty β·λ²
(Eq. 6 with one dynamic layer) starts after `fixed_steps` steps.

All (β, initial factor) configurations train at once, as independent networks fed the same noise
batches: one summed loss and one Adam over all of them equals separate runs (Adam is per parameter).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn
from tqdm import tqdm

from leanspeech.audio.filterbanks import filterbank_matrix
from leanspeech.compress.consolidate import consolidate
from leanspeech.compress.width import WidthSchedule
from leanspeech.nn.dynamic import AdaptiveLinear, DynamicLinear

L1_SCALE = 1e-3  # the paper scales L1 so that its gradients do not swamp the width penalty


@dataclass
class FilterbankStudyConfig:
    scale: str = "bark"
    bands: int = 32
    betas: tuple[float, ...] = (0.001, 0.003, 0.01)
    factors: tuple[int, ...] = (2, 4, 6, 8, 10)
    min_factor: float = 2.0
    steps: int = 3000
    fixed_steps: int = 1000
    snapshot_step: int = 100  # the "early" panel of Fig. 2
    batch: int = 16
    n_fft: int = 512
    sample_rate: int = 16000
    lr: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        problems = [
            text
            for bad, text in [
                (self.bands < 1, f"bands must be >= 1, got {self.bands}"),
                (not self.betas or min(self.betas) < 0, f"betas must be >= 0 (at least one), got {self.betas}"),
                (not self.factors or min(self.factors) < 1, f"factors must be >= 1 (at least one), got {self.factors}"),
                (not 0 <= self.fixed_steps < self.steps, f"need 0 <= fixed_steps < steps, got {self.fixed_steps}, {self.steps}"),
                (self.batch < 1, f"batch must be >= 1, got {self.batch}"),
            ]
            if bad
        ]
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def quick(cls, **overrides: object) -> FilterbankStudyConfig:
        """A short run (a few seconds) for tests and smoke checks."""
        settings: dict[str, object] = dict(betas=(0.0, 0.03), factors=(2, 6), steps=800, fixed_steps=250, batch=32)
        settings.update(overrides)
        return cls(**settings)  # type: ignore[arg-type]


class FilterbankLearner(nn.Module):
    """DynamicLinear(n_bins → factor·bands) → AdaptiveLinear(→ bands), both linear and bias-free."""

    def __init__(self, n_bins: int, bands: int, factor: int, min_factor: float = 2.0):
        super().__init__()
        units = factor * bands
        self.bands = bands
        self.hidden = DynamicLinear(n_bins, units, bias=False, min_fraction=min(1.0, min_factor / factor))
        self.readout = AdaptiveLinear(self.hidden, bands, bias=False)

    def forward(self, spectrum: Tensor) -> Tensor:
        return self.readout(self.hidden(spectrum))

    def factor(self) -> float:
        """Overparameterization factor K/N (Eq. 5)."""
        return float(self.hidden.width.k().detach()) / self.bands

    @torch.no_grad()
    def learned_filterbank(self) -> Tensor:
        """The (bands, n_bins) matrix the network applies at eval: read-out × live hidden rows."""
        plain = consolidate(self).eval()
        return plain.readout.weight @ plain.hidden.weight


def white_noise_spectra(batch: int, n_fft: int, generator: torch.Generator) -> Tensor:
    """Magnitude spectra (batch, n_fft//2+1) of Hann-windowed unit-variance white noise, RMS 1."""
    window = torch.hann_window(n_fft, periodic=True)
    magnitude = torch.fft.rfft(torch.randn(batch, n_fft, generator=generator) * window).abs()
    return magnitude / math.sqrt((window**2).sum().item())


@dataclass
class FilterbankRun:
    beta: float
    initial_factor: int
    final_factor: float
    live_units: int
    l1: float  # Eq. 4 on the last training batch, boundary-unit noise included
    filterbank_error: float  # ‖learned − target‖_F / ‖target‖_F
    history: list[float] = field(default_factory=list)  # factor every 10 steps

    def row(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if k != "history"}


@dataclass
class FilterbankStudyResult:
    config: FilterbankStudyConfig
    target: Tensor
    runs: list[FilterbankRun]
    snapshot: Tensor  # learned filter bank at `snapshot_step` of the Fig. 2 configuration
    final: Tensor  # its learned filter bank at the end
    figure2_run: FilterbankRun


def run_filterbank_study(config: FilterbankStudyConfig, progress: bool = True) -> FilterbankStudyResult:
    """Train every (β, factor) network of `config` together; see the module docstring."""
    threads = torch.get_num_threads()
    # The matrices are small: one thread avoids synchronisation costs that dominate on a busy machine.
    torch.set_num_threads(1)
    try:
        return _train(config, progress)
    finally:
        torch.set_num_threads(threads)


def _train(config: FilterbankStudyConfig, progress: bool) -> FilterbankStudyResult:
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    target = filterbank_matrix(config.scale, config.bands, config.n_fft, config.sample_rate, norm=None)
    n_bins = target.shape[1]
    grid = [(beta, factor) for beta in config.betas for factor in config.factors]
    learners = nn.ModuleList(FilterbankLearner(n_bins, config.bands, f, config.min_factor) for _, f in grid)
    schedules = [WidthSchedule(learner, beta, config.fixed_steps) for learner, (beta, _) in zip(learners, grid)]
    optimizer = torch.optim.Adam(learners.parameters(), lr=config.lr)
    # Fig. 2 shows a network whose width shrinks: the largest β at the largest factor.
    figure2 = grid.index((max(config.betas), max(config.factors)))
    histories: list[list[float]] = [[] for _ in grid]
    l1s = [0.0] * len(grid)
    snapshot = None
    learners.train()
    for step in tqdm(range(config.steps), desc=f"filterbank {config.scale}{config.bands}", disable=not progress):
        spectra = white_noise_spectra(config.batch, config.n_fft, generator)
        wanted = spectra @ target.T
        total = torch.zeros(())
        for i, (learner, schedule) in enumerate(zip(learners, schedules)):
            l1 = (learner(spectra) - wanted).abs().mean()
            l1s[i] = l1.item()
            total = total + L1_SCALE * l1 + schedule.penalty(step)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        for i, (learner, schedule) in enumerate(zip(learners, schedules)):
            schedule.project()
            if step % 10 == 0:
                histories[i].append(learner.factor())
        if step + 1 == config.snapshot_step:
            snapshot = learners[figure2].learned_filterbank()

    runs = []
    norm = target.norm().item()
    for i, ((beta, factor), learner) in enumerate(zip(grid, learners)):
        learned = learner.learned_filterbank()
        runs.append(
            FilterbankRun(
                beta=beta,
                initial_factor=factor,
                final_factor=learner.factor(),
                live_units=learner.hidden.width.live_units(),
                l1=l1s[i],
                filterbank_error=(learned - target).norm().item() / norm,
                history=histories[i],
            )
        )
    final = learners[figure2].learned_filterbank()
    return FilterbankStudyResult(config, target, runs, final if snapshot is None else snapshot, final, runs[figure2])

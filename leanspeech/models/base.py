"""The contract every task model keeps, so that trainers, profilers and exporters need no model names.

A model maps a waveform batch (B, T) at `sample_rate` to its output in two steps:
`features(wav)` (a front-end module, counted by the profiler like any layer) and `forward(x)`.
Frame-level models (VAD, enhancement) say how many samples one output frame advances (`hop_length`);
clip-level models (quality, spoofing) leave it None.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import torch
from torch import Tensor, nn


class SpeechModel(nn.Module):
    sample_rate: int = 16000
    hop_length: int | None = None
    task: str = ""
    registry_name: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        init = cls.__init__
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self: SpeechModel, *args: Any, **kw: Any) -> None:
            # The outermost constructor's arguments are the config that rebuilds this model.
            if not hasattr(self, "_recording_config"):
                object.__setattr__(self, "_recording_config", True)
                bound = signature.bind(self, *args, **kw)
                bound.apply_defaults()
                config = {k: v for k, v in bound.arguments.items() if k != "self"}
                for name, param in signature.parameters.items():
                    if param.kind is inspect.Parameter.VAR_KEYWORD:
                        config.update(config.pop(name))
                init(self, *args, **kw)
                object.__setattr__(self, "_config", config)
            else:
                init(self, *args, **kw)

        cls.__init__ = recording_init  # type: ignore[method-assign]

    def features(self, wav: Tensor) -> Tensor:
        """Waveform (B, T) → the input of `forward`. The default is the waveform itself."""
        frontend = getattr(self, "frontend", None)
        return wav if frontend is None else frontend(wav)

    def forward_wav(self, wav: Tensor) -> Tensor:
        return self(self.features(wav))

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this model: `MODELS.build(name, **get_config())`."""
        return dict(getattr(self, "_config", {}))

    def example_wav(self, seconds: float = 4.0, batch: int = 1, seed: int = 0) -> Tensor:
        generator = torch.Generator().manual_seed(seed)
        return 0.1 * torch.randn(batch, int(round(seconds * self.sample_rate)), generator=generator)

    def example_input(self, seconds: float = 4.0, batch: int = 1) -> Tensor:
        """A features batch for `seconds` of noise: what profilers and exporters feed `forward`."""
        with torch.no_grad():
            return self.features(self.example_wav(seconds, batch))

    def outputs_per_second(self) -> float | None:
        return None if self.hop_length is None else self.sample_rate / self.hop_length

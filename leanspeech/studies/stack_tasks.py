"""What a stacked-compression run needs from its task: training batches and a loss (for `finetune`,
`prune`), calibration inputs (for `int8`), and a score on a fixed test set.

  vad      frame BCE on on-the-fly mixtures of the corpus's train split; EER on the demo's fixed test set
           (same clips as `leanspeech demo`: 300 clips of 4 s from held-out speakers, voices and noises)
  quality  MSE on the WB-PESQ-labelled 9 s segments a `leanspeech study quality` run cached; PCC on its
           test segments (held-out speakers and noises)

A task scores any model that takes its inputs: float models, and int8 ones wrapped with their front end
(`compress.quantize.QuantizedSpeechModel`). Where the streaming runtime runs a stage (VAD hosts, see
runtime/streaming_vad.py) the task also times it there: that is where a D-GRU's skipped rows save time.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from leanspeech.bundled import bundled_model
from leanspeech.errors import LeanspeechError
from leanspeech.registry import Registry

TASKS: Registry = Registry("stack task")


class StackTask(Protocol):
    metric: str
    higher_is_better: bool
    bundled: Path | None  # the model shipped for this task: a recipe's `base: bundled`
    seconds: float  # audio per test input: profiles and latencies are per second of it

    def batches(self) -> Iterator[Any]: ...
    def loss(self, model: nn.Module, batch: Any) -> Tensor: ...
    def calibration(self, model: nn.Module, count: int) -> list[Tensor]: ...
    def score(self, model: nn.Module) -> dict[str, float]: ...
    def inference(self, model: nn.Module) -> Callable[[], Any]: ...
    def streaming(self, model: nn.Module) -> Callable[[], Any] | None: ...


@TASKS.register("vad")
class VadTask:
    metric, higher_is_better = "eer", False
    bundled = bundled_model("vad")

    def __init__(self, corpus: str | Path, out: str | Path, test_clips: int = 300, test_seconds: float = 4.0,
                 segment_seconds: float = 1.0, batch_size: int = 32, seed: int = 0,
                 mixing: dict[str, Any] | None = None) -> None:
        from leanspeech.data.datasets import FixedTestSet, MixtureDataset
        from leanspeech.studies.vad_eval import load_test_clips

        self.seconds = test_seconds
        mixing = mixing or {}  # MixingConfig overrides; the defaults are the demo's (the paper's)
        self.clips = load_test_clips(FixedTestSet(Path(out) / "testset", corpus, split="test", count=test_clips,
                                                  segment_seconds=test_seconds, mixing=mixing))
        self.train = MixtureDataset(corpus, "train", segment_seconds=segment_seconds, mixing=mixing)
        self.batch_size, self.seed = batch_size, seed

    def batches(self) -> Iterator[dict[str, Tensor]]:
        from leanspeech.train.batches import endless_batches

        return endless_batches(self.train, self.batch_size, self.seed)

    def loss(self, model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        return F.binary_cross_entropy(model.forward_wav(batch["mixture"]), batch["labels"])

    def calibration(self, model: nn.Module, count: int) -> list[Tensor]:
        with torch.no_grad():
            return [model.features(batch["mixture"]) for batch in itertools.islice(self.batches(), count)]

    def score(self, model: nn.Module) -> dict[str, float]:
        from leanspeech.studies.vad_eval import model_probabilities, pooled_eer

        return {"eer": pooled_eer(model_probabilities(model, self.clips), self.clips.labels)}

    def inference(self, model: nn.Module) -> Callable[[], Any]:
        """The first test clip through the whole model, front end included (what `leanspeech report` times)."""
        wav = torch.from_numpy(self.clips.mixtures[:1])
        return lambda: model.forward_wav(wav)

    def streaming(self, model: nn.Module) -> Callable[[], Any] | None:
        """The first test clip's features through the streaming runtime (an int8 stage with int8 weights),
        if the runtime runs the model; the front end is left out, as in every export."""
        from leanspeech.runtime.streaming_vad import StreamingVADNetwork

        network = getattr(model, "float_model", model)
        try:
            engine = StreamingVADNetwork.from_model(network, weights="int8" if getattr(model, "quantized", False) else "fp32")
        except TypeError:
            return None
        with torch.no_grad():
            frames = network.features(torch.from_numpy(self.clips.mixtures[:1]))[0].numpy()
        return lambda: engine.run(frames)


@TASKS.register("quality")
class QualityTask:
    metric, higher_is_better = "pcc", True
    bundled = bundled_model("quality")  # features: the same log-mel the quality study caches

    def __init__(self, corpus: str | Path, out: str | Path, study: str | Path, batch_size: int = 32,
                 calibration_fraction: float = 0.2, seed: int = 0) -> None:
        from leanspeech.data.pesq_segments import SegmentRule, read_pesq_segments

        folder = Path(study) / "segments"
        self.features, self.labels = {}, {}
        for split in ("train", "test"):
            cache = folder / f"features-{split}.pt"
            if not cache.is_file():
                raise LeanspeechError(f"{cache}: no cached features; run `leanspeech study quality --out {study}` first")
            self.features[split] = torch.load(cache, weights_only=True)
            self.labels[split] = torch.tensor([s.label for s in read_pesq_segments(folder, split)], dtype=torch.float32)
            if len(self.features[split]) != len(self.labels[split]):
                raise LeanspeechError(f"{folder}: {split} features and labels disagree in count; re-run the quality study")
        rule = folder / "config.json"  # build_pesq_segments' record of the study's segment rule
        self.seconds = (json.loads(rule.read_text())["segments"]["segment_seconds"] if rule.is_file()
                        else SegmentRule().segment_seconds)
        self.batch_size, self.calibration_fraction = batch_size, calibration_fraction
        self.generator = torch.Generator().manual_seed(seed)

    def batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        features, labels = self.features["train"], self.labels["train"]
        while True:
            index = torch.randint(len(labels), (self.batch_size,), generator=self.generator)
            yield features[index], labels[index]

    def loss(self, model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
        return F.mse_loss(model(batch[0]), batch[1])

    def calibration(self, model: nn.Module, count: int) -> list[Tensor]:
        """The study's calibration set (the paper's 20 % of the training segments) in `count` batches."""
        chosen = self.features["train"][: max(1, round(self.calibration_fraction * len(self.labels["train"])))]
        return list(chosen.chunk(min(count, len(chosen))))

    def score(self, model: nn.Module) -> dict[str, float]:
        from leanspeech.metrics import agreement
        from leanspeech.studies.quality_train import predict

        result = agreement(predict(model, self.features["test"]).tolist(), self.labels["test"].tolist()).as_dict()
        return {k: float(result[k]) for k in ("pcc", "srcc", "mse")}

    def inference(self, model: nn.Module) -> Callable[[], Any]:
        """One cached test segment's features through the model (the segments are stored as features)."""
        features = self.features["test"][:1]
        return lambda: model(features)

    def streaming(self, model: nn.Module) -> None:
        return None  # no streaming runtime for clip-level quality models


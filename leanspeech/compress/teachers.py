"""Quality teachers behind one interface: `predict(wavs)`, a (B, T) waveform batch at 16 kHz → MOS (B,).

- `DistillMosTeacher`: the Distill-MOS peer (weights inside the distillmos wheel).
- `DnsmosTeacher`: DNSMOS from speechmos (OVRL by default, any of sig/bak/ovrl/p808).
- `ModelTeacher`: any leanspeech quality model (an instance or a file saved by `save_model`).
- `XlsrSqaTeacher`: the XLS-R-SQA design (distill-prune-sqa.md §IV-A): hidden states of layer L of a
  wav2vec2 / XLS-R model loaded with `transformers` from a LOCAL directory (never the hub) →
  `QualityHead` (d 32, 4 heads, 4 layers) → attention pooling → sigmoid, with per-dataset learnable
  scale and shift of the logits (bias-aware training) and `grid_search_scale_shift` for the universal
  pair used at inference; `prune_embedding` prunes its embedding model as the paper's XLS-R-PruneMOS.
  `save` / `XlsrSqaTeacher.load` keep its head (and a pruned embedding) in a file of its own; training
  on labeled MOS data is `leanspeech study sqa-teacher` (studies/sqa_teacher_train.py).
  Needs the optional dependency: pip install "leanspeech[sqa]".

`load_teacher(spec)` gives the teacher a study names: "distill-mos", or the path of a leanspeech quality
model or of a saved XLS-R-SQA teacher.

`pseudo_label(teacher, clips)` labels many clips for distillation: a clip that cannot be read or that
the teacher fails on is logged with its name, skipped and counted, never fatal.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from leanspeech import __version__
from leanspeech.audio.io import load_audio
from leanspeech.audio.resample import resample
from leanspeech.compress.prune import PruneConfig, PrunePoint, prune_model
from leanspeech.errors import LeanspeechError
from leanspeech.models.base import SpeechModel
from leanspeech.models.io import load_model
from leanspeech.models.quality_student import QualityHead
from leanspeech.peers.base import PeerNotInstalledError
from leanspeech.profile.params import count_parameters

log = logging.getLogger(__name__)
TEACHER_RATE = 16000
SQA_PIP_COMMAND = 'pip install "leanspeech[sqa]"  (or: pip install "transformers>=4.40")'
XLSR_FRAMES = 384  # XLS-R-SQA's centre crop: 7.68 s of 20 ms frames
XLSR_FORMAT = "leanspeech-xlsr-sqa"


@runtime_checkable
class Teacher(Protocol):
    name: str

    def predict(self, wavs: Tensor) -> Tensor: ...


def _as_batch(wavs: Tensor) -> Tensor:
    wavs = torch.as_tensor(wavs, dtype=torch.float32)
    if wavs.dim() != 2:
        raise ValueError(f"teachers take a (B, T) waveform batch, got shape {tuple(wavs.shape)}")
    return wavs


class DistillMosTeacher:
    name = "distill-mos"

    def __init__(self, batch_size: int = 8):
        from leanspeech.peers.distill_mos import DistillMos

        self.peer = DistillMos(batch_size)

    def predict(self, wavs: Tensor) -> Tensor:
        batch = [w.numpy() for w in _as_batch(wavs)]
        return torch.tensor(self.peer.score_batch(batch, TEACHER_RATE, progress=False))


class DnsmosTeacher:
    def __init__(self, key: str = "ovrl", personalized: bool = False):
        from leanspeech.peers.dnsmos import Dnsmos

        if key not in ("sig", "bak", "ovrl", "p808"):
            raise ValueError(f"DNSMOS gives sig, bak, ovrl and p808, not {key!r}")
        self.key = key
        self.name = f"dnsmos-{key}"
        self.peer = Dnsmos(personalized)

    def predict(self, wavs: Tensor) -> Tensor:
        return torch.tensor([self.peer.score(w.numpy(), TEACHER_RATE)[self.key] for w in _as_batch(wavs)])


class ModelTeacher:
    """A leanspeech quality model as a teacher; audio is resampled to the model's own rate."""

    def __init__(self, model: SpeechModel | str | Path):
        self.model = load_model(model) if isinstance(model, (str, Path)) else model
        if self.model.task != "quality":
            raise LeanspeechError(f"{type(self.model).__name__} is a {self.model.task!r} model, not a quality model")
        self.model.eval()
        self.name = self.model.registry_name or type(self.model).__name__

    @torch.no_grad()
    def predict(self, wavs: Tensor) -> Tensor:
        wavs = _as_batch(wavs)
        if self.model.sample_rate != TEACHER_RATE:
            wavs = torch.from_numpy(np.stack([resample(w.numpy(), TEACHER_RATE, self.model.sample_rate) for w in wavs]))
        return self.model.forward_wav(wavs).reshape(-1)


class DatasetBias(nn.Module):
    """Per-dataset learnable scale a_k and shift b_k of the logits: dataset k sees a_k · z + b_k."""

    def __init__(self, n_datasets: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(n_datasets))
        self.shift = nn.Parameter(torch.zeros(n_datasets))

    def forward(self, logits: Tensor, dataset: Tensor) -> Tensor:
        return self.scale[dataset] * logits + self.shift[dataset]


def logits_to_mos(logits: Tensor) -> Tensor:
    """The MOS scale of the XLS-R-SQA head: 1 + 4·sigmoid(logits)."""
    return 1.0 + 4.0 * torch.sigmoid(logits)


def mos_to_logits(mos: Tensor) -> Tensor:
    """The inverse of `logits_to_mos`, for a MOS in (1, 5) (clamped 0.004 inside its ends)."""
    unit = ((mos - 1.0) / 4.0).clamp(1e-3, 1 - 1e-3)
    return torch.log(unit / (1 - unit))


def grid_search_scale_shift(
    logits: Tensor, mos: Tensor, scales: Tensor | None = None, shifts: Tensor | None = None
) -> tuple[float, float, float]:
    """The (scale, shift) on a grid minimising the MSE of 1 + 4·sigmoid(scale · z + shift) to `mos`."""
    scales = torch.linspace(0.5, 2.0, 61) if scales is None else scales
    shifts = torch.linspace(-2.0, 2.0, 81) if shifts is None else shifts
    predicted = logits_to_mos(scales[:, None, None] * logits + shifts[None, :, None])
    mse = (predicted - mos).pow(2).mean(-1)
    best = int(mse.argmin())
    i, j = divmod(best, len(shifts))
    return float(scales[i]), float(shifts[j]), float(mse[i, j])


def _import_wav2vec2():
    try:
        from transformers import Wav2Vec2Model
    except ImportError as err:
        raise PeerNotInstalledError(f"the XLS-R-SQA teacher needs transformers ({err}); install it with: {SQA_PIP_COMMAND}") from None
    return Wav2Vec2Model


def check_wav2vec2_dir(directory: str | Path) -> dict:
    """The config of a local wav2vec2 / XLS-R directory, or a clear error before any loading."""
    directory = Path(directory)
    if not directory.is_dir():
        raise LeanspeechError(f"{directory}: wav2vec2 model directory does not exist")
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise LeanspeechError(f"{directory}: no config.json; not a saved transformers model")
    try:
        config = json.loads(config_file.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise LeanspeechError(f"{config_file}: unreadable config ({err})") from None
    if config.get("model_type") != "wav2vec2":
        raise LeanspeechError(f"{directory}: model_type {config.get('model_type')!r} is not wav2vec2 (XLS-R)")
    if not any((directory / name).is_file() for name in ("model.safetensors", "pytorch_model.bin")):
        raise LeanspeechError(f"{directory}: no weights (model.safetensors or pytorch_model.bin)")
    return config


def center_crop(frames: Tensor, length: int) -> Tensor:
    """(B, T, D) → (B, length, D): the centre `length` frames, zero-padded at the end when shorter."""
    excess = frames.shape[1] - length
    if excess > 0:
        start = int(frames.shape[1] / 2 - length / 2)
        return frames[:, start : start + length]
    return nn.functional.pad(frames, (0, 0, 0, -excess))


class XlsrSqaTeacher(nn.Module):
    """XLS-R-SQA: wav2vec2 layer `layer` (0 = the CNN's projected features) → QualityHead → MOS.

    `forward(wavs, dataset=None)`: with dataset indices, each clip's logits get its dataset's learned
    scale and shift (training); without, the universal pair (after `set_universal`)."""

    name = "xls-r-sqa"

    def __init__(self, directory: str | Path, layer: int = 10, n_datasets: int = 1, d_model: int = 32,
                 heads: int = 4, layers: int = 4, frames: int = XLSR_FRAMES):
        super().__init__()
        config = check_wav2vec2_dir(directory)
        if not 0 <= layer <= config["num_hidden_layers"]:
            raise LeanspeechError(f"{directory}: layer {layer} outside 0..{config['num_hidden_layers']}")
        wav2vec2 = _import_wav2vec2()
        self.embedding = wav2vec2.from_pretrained(str(directory), local_files_only=True)
        # No layer drop or time masking in train mode: fine-tuning or pruning sees the same features.
        self.embedding.config.layerdrop = 0.0
        self.embedding.config.apply_spec_augment = False
        # Layers past `layer` + 1 never reach hidden state `layer`; the last kept one only keeps that
        # state free of the encoder's final norm, exactly as in the full model.
        self.embedding.encoder.layers = self.embedding.encoder.layers[: layer + 1]
        self.directory = Path(directory).resolve()
        self.settings = {"layer": layer, "n_datasets": n_datasets, "d_model": d_model, "heads": heads,
                         "layers": layers, "frames": frames}
        self.layer = layer
        self.frames = frames
        self.head = QualityHead(config["hidden_size"], d_model, heads, layers)
        self.dataset_bias = DatasetBias(n_datasets)
        self.register_buffer("universal", torch.tensor([1.0, 0.0]))
        self.datasets: list[str] = []  # the training datasets, in the order of `dataset_bias`

    def features(self, wavs: Tensor) -> Tensor:
        """(B, T) → (B, frames, hidden) of layer `layer`, inputs normalised as Wav2Vec2FeatureExtractor does."""
        wavs = (wavs - wavs.mean(-1, keepdim=True)) / torch.sqrt(wavs.var(-1, keepdim=True, unbiased=False) + 1e-7)
        hidden = self.embedding(wavs, output_hidden_states=True).hidden_states[self.layer]
        return center_crop(hidden, self.frames)

    def dataset_index(self, names: list[str]) -> Tensor:
        """Indices into `dataset_bias` of datasets named as in `datasets`."""
        return torch.tensor([self.datasets.index(name) for name in names])

    def crop_samples(self) -> int:
        """Waveform samples that give exactly `frames` frames of the embedding's CNN."""
        config = self.embedding.config
        receptive, stride = 1, 1
        for kernel, step in zip(config.conv_kernel, config.conv_stride):
            receptive += (kernel - 1) * stride
            stride *= step
        return receptive + (self.frames - 1) * stride

    def frame_logits(self, frames: Tensor, dataset: Tensor | None = None) -> Tensor:
        """`features`' frames → logits with each clip's dataset scale and shift, or the universal pair."""
        logits = self.head.logits(frames)
        if dataset is not None:
            return self.dataset_bias(logits, dataset)
        return self.universal[0] * logits + self.universal[1]

    def logits(self, wavs: Tensor, dataset: Tensor | None = None) -> Tensor:
        return self.frame_logits(self.features(wavs), dataset)

    def forward(self, wavs: Tensor, dataset: Tensor | None = None) -> Tensor:
        return logits_to_mos(self.logits(wavs, dataset))

    @torch.no_grad()
    def set_universal(self, raw_logits: Tensor, mos: Tensor, **grid: Tensor) -> tuple[float, float, float]:
        """Grid-search the universal scale and shift on validation clips' unscaled logits
        (`head.logits` of their frames); returns (scale, shift, mse)."""
        scale, shift, mse = grid_search_scale_shift(raw_logits, mos, **grid)
        self.universal.copy_(torch.tensor([scale, shift]))
        return scale, shift, mse

    @torch.no_grad()
    def predict(self, wavs: Tensor) -> Tensor:
        self.eval()
        return self(_as_batch(wavs))

    def prune_embedding(self, batches: Iterable[tuple[Tensor, Tensor, Tensor]], config: PruneConfig | None = None,
                        out_dir: str | Path | None = None, progress: bool = True) -> list[PrunePoint]:
        """XLS-R-PruneMOS (§IV-C): the embedding model pruned in place (Taylor, 0.5 % per step, by default),
        fine-tuned between steps on labeled `batches` of (wavs, dataset index, MOS) with the bias-aware
        MSE; the head and the dataset biases stay dense, as in the paper. The last kept encoder layer is left
        out too: hidden state `layer` is its input, so its weights never reach the score."""
        config = config or PruneConfig()
        unused = f"embedding.encoder.layers.{self.layer}."
        config = replace(config, exclude=(*config.exclude, "head.", "dataset_bias.", unused))
        return prune_model(self, lambda model, batch: F.mse_loss(model(batch[0], batch[1]), batch[2]), batches,
                           config, out_dir, progress)

    def save(self, path: str | Path, with_embedding: bool = False) -> Path:
        """Head, dataset biases, universal pair and settings; the embedding model's weights only when asked
        (`with_embedding`, for a pruned one): otherwise `load` reads them from the wav2vec2 directory."""
        state = {k: v for k, v in self.state_dict().items() if with_embedding or not k.startswith("embedding.")}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"format": XLSR_FORMAT, "format_version": 1, "leanspeech_version": __version__,
                    "wav2vec2": str(self.directory), "settings": self.settings, "datasets": self.datasets,
                    "state_dict": state}, path)
        return path

    @classmethod
    def load(cls, path: str | Path, wav2vec2: str | Path | None = None) -> XlsrSqaTeacher:
        """A teacher saved by `save`, its embedding model from `wav2vec2` (default: the directory it was
        trained with), in eval mode."""
        return cls.from_blob(_read_checkpoint(path), path, wav2vec2)

    @classmethod
    def from_blob(cls, blob: dict, path: str | Path, wav2vec2: str | Path | None = None) -> XlsrSqaTeacher:
        if blob.get("format") != XLSR_FORMAT:
            raise LeanspeechError(f"{path}: not a saved XLS-R-SQA teacher")
        teacher = cls(wav2vec2 or blob["wav2vec2"], **blob["settings"])
        missing, unexpected = teacher.load_state_dict(blob["state_dict"], strict=False)
        missing = [k for k in missing if not k.startswith("embedding.")]
        if missing or unexpected:
            raise LeanspeechError(f"{path}: weights do not fit the XLS-R-SQA teacher (missing {missing[:3]}, "
                                  f"unexpected {unexpected[:3]})")
        teacher.datasets = list(blob["datasets"])
        return teacher.eval()


def _read_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise LeanspeechError(f"{path}: teacher file does not exist")
    try:  # mmap: telling a multi-GB pruned teacher from a student costs no read of its weights
        blob = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # torch raises several types for corrupt or foreign files
        raise LeanspeechError(f"{path}: not a loadable teacher file ({err})") from None
    if not isinstance(blob, dict):
        raise LeanspeechError(f"{path}: not a teacher file")
    return blob


def load_teacher(spec: str | Path) -> Teacher:
    """"distill-mos", or the path of a leanspeech quality model (`save_model`) or of an XLS-R-SQA teacher
    (`XlsrSqaTeacher.save`)."""
    if str(spec) == "distill-mos":
        return DistillMosTeacher()
    blob = _read_checkpoint(spec)
    if blob.get("format") == XLSR_FORMAT:
        return XlsrSqaTeacher.from_blob(blob, spec)
    return ModelTeacher(spec)


def teacher_parameters(teacher: Teacher) -> int:
    """Dense parameters of the network that scores: an XLS-R-SQA teacher counts only the wav2vec2 layers it
    runs (up to `layer` + 1), not the whole XLS-R."""
    if isinstance(teacher, DistillMosTeacher):
        return teacher.peer.parameter_count()
    return count_parameters(teacher.model if isinstance(teacher, ModelTeacher) else teacher).dense


@dataclass
class PseudoLabels:
    labels: dict[str, float] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (clip, problem)


def _read(clip: str | Path | tuple[str, np.ndarray | Tensor]) -> tuple[str, Tensor]:
    if isinstance(clip, (str, Path)):
        wav, _ = load_audio(clip, sample_rate=TEACHER_RATE)
        return str(clip), torch.from_numpy(wav)
    name, wav = clip
    return name, torch.as_tensor(wav, dtype=torch.float32).reshape(-1)


def pseudo_label(
    teacher: Teacher,
    clips: Iterable[str | Path | tuple[str, np.ndarray | Tensor]],
    batch_size: int = 8,
    progress: bool = True,
) -> PseudoLabels:
    """Teacher MOS for each clip: a path (read at 16 kHz) or a (name, 16 kHz waveform) pair.

    Consecutive clips of equal length share a batch; when a batch fails, its clips are retried one by
    one so that only the clip at fault is skipped."""
    result = PseudoLabels()
    pending: list[tuple[str, Tensor]] = []

    def run(batch: list[tuple[str, Tensor]]) -> None:
        try:
            scores = teacher.predict(torch.stack([w for _, w in batch])).reshape(-1)
            if not torch.isfinite(scores).all():
                raise ValueError("teacher returned a non-finite score")
            result.labels.update({name: float(s) for (name, _), s in zip(batch, scores)})
        except Exception as err:  # noqa: BLE001  (any teacher failure must only cost its clip)
            if len(batch) > 1:
                for item in batch:
                    run([item])
                return
            log.warning("%s: teacher %s failed: %s; skipped", batch[0][0], teacher.name, err)
            result.failures.append((batch[0][0], f"{type(err).__name__}: {err}"))

    for clip in tqdm(clips, desc=f"labelling with {teacher.name}", disable=not progress):
        try:
            name, wav = _read(clip)
        except Exception as err:  # noqa: BLE001  (a bad file is reported and skipped)
            name = str(clip if isinstance(clip, (str, Path)) else clip[0])
            log.warning("%s: cannot be read: %s; skipped", name, err)
            result.failures.append((name, f"{type(err).__name__}: {err}"))
            continue
        if pending and (len(pending) == batch_size or len(pending[0][1]) != len(wav)):
            run(pending)
            pending = []
        pending.append((name, wav))
    if pending:
        run(pending)
    if result.failures:
        log.warning("teacher %s: %d clip(s) skipped, %d labelled", teacher.name, len(result.failures), len(result.labels))
    return result

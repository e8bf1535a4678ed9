"""Costs of the quality study's variants, per 9 s sample, measured on real tensors in one run.

Activation memory: every activation tensor one inference holds, at its real width (the ledgers of
`leanspeech.runtime.bitpacked`): float and int8 models from their torch tensors, BAM models from the
bit-packed runtime, where each binary map is 1 bit per element (input log-mel float32, or uint8 for
"BAM + int8" — the paper's 1-bit maps with an 8-bit input spectrogram; the maps do not depend on the
weights' width, so its float source model runs there). Operations and parameters come from the
profiler on each variant as it runs (int8 layers count their float layers' MACs, binary maps held in
8 bits their binary MACs). File size: the checkpoint (state_dict)
as torch.save writes it. Latency per sample at batch 1: interleaved rounds, median / min / max, with
fp32 in channels_last memory format as the baseline the ratios divide by.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import Tensor

from leanspeech.compress.quantize import serialized_bytes
from leanspeech.profile.model_profile import profile_model
from leanspeech.report.timing import interleaved_seconds
from leanspeech.runtime.bitpacked import BitpackedQualityCNN, torch_activation_memory
from leanspeech.studies.quality import BAM, BAM_BW, BAM_INT8, BINARY_PTQ, FP32, INT8, VARIANTS

BASELINE = "fp32 channels_last"
BITPACKED_INPUT_BITS = {BINARY_PTQ: 32, BAM: 32, BAM_BW: 32, BAM_INT8: 8}
BITPACKED_SOURCE = {BAM_INT8: BAM}  # the float model whose binary maps the bit-packed runtime computes


def activation_bytes(name: str, model: Any, features: Tensor) -> int:
    if name in BITPACKED_INPUT_BITS:
        runtime = BitpackedQualityCNN.from_model(model, input_bits=BITPACKED_INPUT_BITS[name])
        return runtime.run(features[0].numpy())[1].total_bytes
    return torch_activation_memory(model, features).total_bytes


def study_costs(models: dict[str, Any], features: Tensor, seconds: float, repeats: int) -> dict[str, Any]:
    """Per-variant cost rows (for one sample of `features`, shape (1, n_mels, T)) and the latency table."""
    rows = {}
    for name in VARIANTS:
        profile = profile_model(models[name], features, seconds=seconds)
        rows[name] = {
            "params": int(profile.params.dense),
            "macs": profile.macs,
            "binary_macs": profile.binary_macs,
            "activation_bytes": activation_bytes(name, models[BITPACKED_SOURCE.get(name, name)], features),
            "file_bytes": serialized_bytes(models[name]),
        }
    fp32 = rows[FP32]["activation_bytes"]
    for row in rows.values():
        row["activation_reduction"] = fp32 / row["activation_bytes"]

    channels_last = copy.deepcopy(models[FP32]).to(memory_format=torch.channels_last)
    bitpacked = BitpackedQualityCNN.from_model(models[BAM], input_bits=8)
    sample = features[0].numpy().astype(np.float32)
    calls = {
        BASELINE: lambda: channels_last(features),
        FP32: lambda: models[FP32](features),
        INT8: lambda: models[INT8](features),
        BAM_INT8: lambda: models[BAM_INT8](features),
        "BAM bit-packed (numpy)": lambda: bitpacked(sample),
    }
    with torch.inference_mode():
        latency = interleaved_seconds(calls, repeats)
    base = latency[BASELINE]["median_s"]
    for timing in latency.values():
        timing["ratio"] = timing["median_s"] / base
    return {"rows": rows, "latency": latency, "threads": torch.get_num_threads()}

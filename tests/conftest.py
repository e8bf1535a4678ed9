"""Fixtures shared across test folders."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_wav2vec2(tmp_path_factory):
    """A randomly initialised wav2vec2 of XLS-R's layout (stable layer norm), saved like a local XLS-R."""
    transformers = pytest.importorskip("transformers")
    config = transformers.Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32,
        conv_dim=(8, 8), conv_kernel=(10, 3), conv_stride=(5, 2), num_conv_pos_embeddings=4,
        num_conv_pos_embedding_groups=2, do_stable_layer_norm=True, feat_extract_norm="layer",
    )
    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("w2v2")
    transformers.Wav2Vec2Model(config).save_pretrained(directory)
    return directory

"""StreamingVADNetwork against the PyTorch CRNN VADs (plain, consolidated, stacked with D-GRU and a binary map):
frame-by-frame probabilities equal `forward`, however short the stream; weight formats; save/load."""

import numpy as np
import pytest
import torch

import leanspeech.models  # noqa: F401  (fills the registry)
from leanspeech.nn.dynamic_width import LayerWidth
from leanspeech.registry import MODELS
from leanspeech.runtime import RuntimeFormatError, StreamingVADNetwork, available_backends
from leanspeech.stack import apply_stack


def vad(name: str = "crnn_vad", seed: int = 0):
    torch.manual_seed(seed)
    return MODELS.build(name, conv_channels=12, gru_hidden=20).eval()


def stacked_vad():
    """Width-learned and consolidated, D-GRU at 50 %, binary activation map after the convolution."""
    model = vad("dyn_crnn_vad")
    for module in model.modules():
        if isinstance(module, LayerWidth):
            module.set_relative_(0.5)
    return apply_stack(model, ["consolidate", {"name": "dgru", "update_percent": 50}, "binarize"]).eval()


def features_of(model, seconds: float, seed: int = 0) -> torch.Tensor:
    with torch.no_grad():
        return model.features(model.example_wav(seconds, seed=seed))


def probabilities(model, features: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model(features)[0].numpy()


@pytest.mark.parametrize("backend", available_backends())
@pytest.mark.parametrize("build", [vad, stacked_vad], ids=["crnn_vad", "width+dgru+binary"])
def test_streaming_vad_equals_forward_frame_for_frame(backend, build):
    model = build()
    features = features_of(model, 1.5, seed=3)
    engine = StreamingVADNetwork.from_model(model, backend=backend)
    got = engine.run(features[0].numpy())
    np.testing.assert_allclose(got, probabilities(model, features), atol=1e-5, rtol=0)


def test_pushes_answer_lookahead_frames_late_and_flush_pays_what_is_owed():
    model = vad()
    features = features_of(model, 0.5)[0].numpy()  # (bands, frames)
    engine = StreamingVADNetwork.from_model(model)
    answers = [engine.push(frame) for frame in features.T]
    assert answers[: engine.lookahead] == [None] * engine.lookahead and None not in answers[engine.lookahead:]
    owed = engine.flush()
    assert len(owed) == engine.lookahead
    np.testing.assert_allclose(answers[engine.lookahead:] + owed, engine.run(features), atol=0)


@pytest.mark.parametrize("frames", [1, 2, 3])
def test_streams_shorter_than_the_kernel_are_padded_like_the_model(frames):
    model = vad()
    features = features_of(model, 1.0)[..., :frames]
    got = StreamingVADNetwork.from_model(model).run(features[0].numpy())
    np.testing.assert_allclose(got, probabilities(model, features), atol=1e-5, rtol=0)


def test_dgru_updates_its_share_of_neurons_per_frame():
    model = stacked_vad()
    engine = StreamingVADNetwork.from_model(model)
    engine.run(features_of(model, 0.3)[0].numpy())
    assert engine.gru.update_percent == 50 and engine.gru.last_updated.tolist() == [model.gru.hidden_size // 2]


@pytest.mark.parametrize(("weights", "tolerance"), [("fp32", 1e-5), ("fp16", 5e-3), ("int8", 5e-2)])
def test_saved_engine_reloads_in_its_weight_format(tmp_path, weights, tolerance):
    model = vad()
    features = features_of(model, 1.0)[0].numpy()
    engine = StreamingVADNetwork.from_model(model, weights=weights)
    loaded = StreamingVADNetwork.load(engine.save(tmp_path / "vad.npz"))
    assert loaded.gru.weights == weights and loaded.activation == "tanh"
    np.testing.assert_array_equal(loaded.run(features), engine.run(features))
    np.testing.assert_allclose(loaded.run(features), probabilities(model, torch.from_numpy(features)[None]),
                               atol=tolerance, rtol=0)


def test_bad_frames_files_and_models_are_refused(tmp_path):
    engine = StreamingVADNetwork.from_model(vad())
    with pytest.raises(ValueError, match=r"a feature frame must have shape \(80,\)"):
        engine.push(np.zeros(81, np.float32))
    np.savez(tmp_path / "other.npz", kind=np.array("streaming_enhancer"), format_version=np.array(2))
    with pytest.raises(RuntimeFormatError, match="not a streaming_vad file"):
        StreamingVADNetwork.load(tmp_path / "other.npz")
    with pytest.raises(TypeError, match="DynCRNNVAD: the streaming VAD runs crnn_vad hosts"):
        StreamingVADNetwork.from_model(vad("dyn_crnn_vad"))  # dynamic layers: consolidate first

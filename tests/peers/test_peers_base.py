import ast
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import leanspeech.peers
from leanspeech.errors import AudioError, LeanspeechError
from leanspeech.peers import EnhancementPeer, PeerNotInstalledError, QualityPeer, VadPeer
from leanspeech.peers.base import chunk_scores_to_frames, mono_at_rate, require_module, to_pcm16
from leanspeech.registry import PEERS


def brute_force_alignment(scores, chunk, peer_rate, hop, rate, n_frames, delay):
    out = []
    for j in range(n_frames):
        centre_seconds = Fraction(j * hop, rate)
        k = int((centre_seconds + Fraction(delay, peer_rate)) // Fraction(chunk, peer_rate))
        out.append(scores[min(max(k, 0), len(scores) - 1)])
    return np.array(out, dtype=np.float32)


@pytest.mark.parametrize(
    "chunk, peer_rate, hop, rate, delay",
    [(512, 16000, 256, 16000, 0), (512, 16000, 160, 16000, 0), (160, 16000, 128, 8000, 0),
     (480, 48000, 256, 16000, 959), (480, 48000, 441, 44100, 959), (80, 8000, 100, 22050, 7)],
)
def test_chunk_alignment_matches_exact_rational_reference(chunk, peer_rate, hop, rate, delay):
    scores = np.random.default_rng(0).random(57).astype(np.float32)
    n_frames = 150
    expected = brute_force_alignment(scores, chunk, peer_rate, hop, rate, n_frames, delay)
    got = chunk_scores_to_frames(scores, chunk, peer_rate, hop, rate, n_frames, delay)
    np.testing.assert_array_equal(got, expected)


def test_chunk_alignment_on_a_boundary():
    # Frame 2 of hop 256 is centred on sample 512: the first sample of chunk 1.
    got = chunk_scores_to_frames(np.array([0.0, 1.0]), 512, 16000, 256, 16000, 3)
    np.testing.assert_array_equal(got, [0.0, 0.0, 1.0])


def test_input_checks():
    with pytest.raises(AudioError, match="mono"):
        mono_at_rate(np.zeros((2, 100)), 16000, 16000)
    with pytest.raises(AudioError, match="NaN"):
        mono_at_rate(np.array([0.0, np.nan]), 16000, 16000)
    with pytest.raises(AudioError, match="zero-length"):
        mono_at_rate(np.zeros(0), 16000, 16000)
    assert len(mono_at_rate(np.zeros(8000), 8000, 16000)) == 16000
    np.testing.assert_array_equal(to_pcm16(np.array([0.5, -1.0, 1.5, -2.0])), [16384, -32768, 32767, -32768])


def test_missing_package_names_the_pip_command():
    with pytest.raises(PeerNotInstalledError, match="pip install no-such-peer==1") as caught:
        require_module("no_such_module_for_leanspeech", "some-peer", "pip install no-such-peer==1")
    assert isinstance(caught.value, LeanspeechError) and isinstance(caught.value, ImportError)


def test_registry_and_interfaces():
    tasks = {name: PEERS.get(name).task for name in PEERS.names()}
    assert tasks.items() >= {"distill-mos": "quality", "dnsmos": "quality", "rnnoise": "enhance",
                             "silero-vad": "vad", "webrtc-vad": "vad"}.items()
    methods = {VadPeer: ["frame_probabilities"], EnhancementPeer: ["enhance"], QualityPeer: ["score", "score_batch"]}
    for name, protocol in [("silero-vad", VadPeer), ("webrtc-vad", VadPeer), ("rnnoise", EnhancementPeer),
                           ("rnnoise", VadPeer), ("dnsmos", QualityPeer), ("distill-mos", QualityPeer)]:
        assert all(callable(getattr(PEERS.get(name), m, None)) for m in methods[protocol]), (name, protocol)


def test_peer_packages_are_imported_only_when_a_peer_is_built():
    optional = {"silero_vad", "webrtcvad", "pyrnnoise", "speechmos", "distillmos", "xls_r_sqa", "torchaudio"}
    for path in Path(leanspeech.peers.__file__).parent.glob("*.py"):
        for node in ast.parse(path.read_text()).body:  # module level only
            if isinstance(node, ast.Import):
                names = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not names & optional, f"{path.name} imports {names & optional} at module level"

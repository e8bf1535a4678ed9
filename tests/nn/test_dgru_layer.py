"""DGRU against nn.GRU (P = 100), a brute-force per-step reference (P < 100, threshold), conversion
from a trained GRU with fine-tuning, and the profiler rule against an explicit count of operations."""

import numpy as np
import pytest
import torch
from torch import nn

from leanspeech.models.enhance_gru import EnhanceGRU
from leanspeech.nn import DGRU
from leanspeech.profile.rules import rule_for


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def reference_dgru(gru: nn.GRU, x: np.ndarray, count: int | None, threshold: float | None = None):
    """Per sample, per step, in float64, selection by a full sort of the paper's z = 1 − z_torch."""
    batch, steps, _ = x.shape
    size = gru.hidden_size
    out, updated = x.astype(np.float64), []
    for k in range(gru.num_layers):
        w_ih, w_hh, b_ih, b_hh = (getattr(gru, f"{n}_l{k}").detach().double().numpy()
                                  for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        layer_out = np.zeros((batch, steps, size))
        for b in range(batch):
            h = np.zeros(size)
            for t in range(steps):
                gi, gh = w_ih @ out[b, t] + b_ih, w_hh @ h + b_hh
                r, z = sigmoid(gi[:size] + gh[:size]), sigmoid(gi[size:2 * size] + gh[size:2 * size])
                n = np.tanh(gi[2 * size:] + r * gh[2 * size:])
                paper_z = 1 - z
                if threshold is not None:
                    chosen = np.flatnonzero(paper_z > threshold)
                else:
                    chosen = np.argsort(-paper_z)[:count]
                h = h.copy()
                h[chosen] = ((1 - z) * n + z * h)[chosen]
                layer_out[b, t] = h
                updated.append(len(chosen))
        out = layer_out
    return out, np.mean(updated)


@pytest.fixture
def gru():
    torch.manual_seed(0)
    return nn.GRU(6, 16, num_layers=2, batch_first=True)


def test_p100_is_nn_gru_exactly(gru):
    dgru = DGRU.from_gru(gru, update_percent=100)
    x, h0 = torch.randn(3, 9, 6), torch.randn(2, 3, 16)
    for args in ((x,), (x, h0)):
        expected, got = gru(*args), dgru(*args)
        assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_explicit_loop_with_every_neuron_selected_matches_nn_gru(batch_first, bidirectional):
    torch.manual_seed(1)
    gru = nn.GRU(5, 8, num_layers=2, batch_first=batch_first, bidirectional=bidirectional)
    dgru = DGRU.from_gru(gru, threshold=-1.0)  # paper z > −1 always: every neuron, through the D-GRU loop
    x = torch.randn(4, 7, 5)
    h0 = torch.randn(2 * (2 if bidirectional else 1), 4 if batch_first else 7, 8)
    for args in ((x,), (x, h0)):
        (out, h_n), (ref, ref_h) = dgru(*args), gru(*args)
        torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)
        torch.testing.assert_close(h_n, ref_h, atol=1e-6, rtol=0)
    unbatched = torch.randn(7, 5)
    torch.testing.assert_close(dgru(unbatched)[0], gru(unbatched)[0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("percent", [75, 50, 25])
def test_top_a_selection_matches_brute_force(gru, percent):
    dgru = DGRU.from_gru(gru, update_percent=percent)
    x = torch.randn(3, 12, 6)
    with torch.no_grad():
        out, _ = dgru(x)
    expected, mean_updated = reference_dgru(gru, x.numpy(), count=16 * percent // 100)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-5)
    assert mean_updated == dgru.last_update_fraction * 16 == 16 * percent / 100
    kept = (out[:, 1:] == out[:, :-1]).float().mean().item()  # unselected neurons keep their state exactly
    assert kept == pytest.approx(1 - percent / 100, abs=0.02)


def test_threshold_selection_matches_brute_force(gru):
    dgru = DGRU.from_gru(gru, threshold=0.5)
    x = torch.randn(2, 10, 6)
    with torch.no_grad():
        out, _ = dgru(x)
    expected, mean_updated = reference_dgru(gru, x.numpy(), count=None, threshold=0.5)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-5)
    assert dgru.last_update_fraction == pytest.approx(mean_updated / 16)
    assert 0 < dgru.last_update_fraction < 1


def test_bad_update_percent():
    for percent in (0, 120):
        with pytest.raises(ValueError, match="update_percent"):
            DGRU(4, 4, update_percent=percent)


def test_dense_enhancer_converts_to_dgru_and_fine_tunes():
    torch.manual_seed(0)
    dense = EnhanceGRU(hidden=32)
    sparse = EnhanceGRU(hidden=32, rnn="dgru", rnn_options={"update_percent": 50})
    sparse.load_state_dict(dense.state_dict())  # same parameter names: no conversion step needed
    assert isinstance(sparse.rnn, DGRU) and sparse.rnn.update_percent == 50
    noisy = torch.rand(4, 161, 30)
    clean = 0.3 * noisy  # reachable: a constant mask
    optimizer = torch.optim.Adam(sparse.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = nn.functional.mse_loss(sparse(noisy), clean)
        optimizer.zero_grad()
        loss.backward()
        if not losses:
            for name, p in sparse.rnn.named_parameters():
                assert p.grad is not None and p.grad.abs().sum() > 0, name
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


class Counter:
    """Executes a D-GRU step on scalars, counting MACs (products and bias adds) and FLOPs one by one."""

    def __init__(self):
        self.macs = self.flops = 0

    def row(self, w, v, bias):  # w·v + bias: len(v) products, len(v) adds (bias included), MACs + 1 for the bias
        self.macs += len(v) + 1
        self.flops += 2 * len(v)
        return float(np.dot(w, v) + bias)

    def step(self, w_ih, w_hh, b_ih, b_hh, x, h, count):
        size = len(h)
        z = []
        for j in range(size):
            a = self.row(w_ih[size + j], x, b_ih[size + j]) + self.row(w_hh[size + j], h, b_hh[size + j])
            z.append(sigmoid(a))
            self.flops += 1 + 3  # the add of the two halves, sigmoid
        new = list(h)
        for j in np.argsort(z)[:count]:
            r = sigmoid(self.row(w_ih[j], x, b_ih[j]) + self.row(w_hh[j], h, b_hh[j]))
            gi_n, gh_n = self.row(w_ih[2 * size + j], x, b_ih[2 * size + j]), self.row(w_hh[2 * size + j], h, b_hh[2 * size + j])
            n = np.tanh(gi_n + r * gh_n)
            new[j] = (1 - z[j]) * n + z[j] * h[j]
            self.flops += 4 + 9 + 4  # r: add + sigmoid; n: mul, add, tanh; state: sub, 2 mul, add
        return np.array(new)


@pytest.mark.parametrize("percent", [100, 50, 25])
def test_profiler_rule_matches_an_explicit_count(percent):
    torch.manual_seed(0)
    dgru = DGRU(3, 8, num_layers=2, batch_first=True, update_percent=percent)
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        out, _ = dgru(x)
    cost = rule_for(dgru)(dgru, (x,), (out, None))
    counter = Counter()
    params = [[getattr(dgru, f"{n}_l{k}").detach().numpy().astype(np.float64)
               for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")] for k in range(2)]
    for b in range(2):
        layer_in = x[b].numpy().astype(np.float64)
        for k in range(2):
            h, outputs = np.zeros(8), []
            for t in range(5):
                h = counter.step(*params[k], layer_in[t], h, dgru.count)
                outputs.append(h)
            layer_in = np.array(outputs)
        np.testing.assert_allclose(layer_in, out[b].numpy(), atol=1e-5)  # the count ran the real computation
    assert cost.macs == counter.macs
    assert cost.total_flops == counter.flops
    dense_macs = 2 * 5 * 2 * 3 * (8 * (3 + 8) + 8 * (8 + 8) + 2 * 2 * 8) / 2  # B·T·3·H·(I+H) per layer + 6H biases
    assert cost.macs == pytest.approx(dense_macs * (1 + 2 * percent / 100) / 3)

"""Pooling layers against explicit per-element loops (softmax and statistics written out by hand)."""

import math

import torch

from leanspeech.nn.pooling import AttentionPooling, AttentiveStatisticsPooling


def loop_softmax(values: list[float]) -> list[float]:
    exps = [math.exp(v) for v in values]
    return [e / sum(exps) for e in exps]


@torch.no_grad()
def test_attention_pooling_matches_loop():
    torch.manual_seed(0)
    pool = AttentionPooling(dim=5, hidden=7).double()
    x = torch.randn(3, 11, 5, dtype=torch.float64)
    got = pool(x)
    assert got.shape == (3, 5)
    lin1, lin2 = pool.score[0], pool.score[2]
    for b in range(3):
        scores = []
        for t in range(11):
            hidden = [
                max(0.0, float(lin1.bias[h] + sum(lin1.weight[h, d] * x[b, t, d] for d in range(5)))) for h in range(7)
            ]
            scores.append(float(lin2.bias[0] + sum(lin2.weight[0, h] * hidden[h] for h in range(7))))
        weights = loop_softmax(scores)
        for d in range(5):
            expected = sum(weights[t] * float(x[b, t, d]) for t in range(11))
            assert math.isclose(float(got[b, d]), expected, rel_tol=1e-9, abs_tol=1e-12)


def test_attention_pooling_of_constant_sequence_is_the_constant():
    pool = AttentionPooling(dim=4, hidden=3)
    frame = torch.randn(2, 1, 4)
    assert torch.allclose(pool(frame.expand(2, 9, 4)), frame[:, 0], atol=1e-6)


def loop_attentive_statistics(pool: AttentiveStatisticsPooling, x: torch.Tensor) -> torch.Tensor:
    """Attention MLP, softmax, weighted mean/std computed per batch item, channel and frame."""
    conv1, batch_norm, conv2 = pool.attention[0], pool.attention[2], pool.attention[4]
    batch, channels, frames = x.shape
    out = torch.zeros(batch, 2 * channels, dtype=x.dtype)
    for b in range(batch):
        rows = [x[b, c].tolist() for c in range(channels)]
        if pool.global_context:
            means = [sum(r) / frames for r in rows]
            stds = [math.sqrt(sum((v - m) ** 2 for v in r) / frames) for r, m in zip(rows, means)]
            rows = rows + [[m] * frames for m in means] + [[s] * frames for s in stds]
        scores = [[0.0] * frames for _ in range(channels)]
        for t in range(frames):
            column = [r[t] for r in rows]
            hidden = []
            for a in range(conv1.out_channels):
                pre = float(conv1.bias[a]) + sum(float(conv1.weight[a, i, 0]) * v for i, v in enumerate(column))
                relu = max(0.0, pre)
                normed = (relu - float(batch_norm.running_mean[a])) / math.sqrt(
                    float(batch_norm.running_var[a]) + batch_norm.eps
                ) * float(batch_norm.weight[a]) + float(batch_norm.bias[a])
                hidden.append(math.tanh(normed))
            for c in range(channels):
                weights = [float(conv2.weight[c, a, 0]) for a in range(conv2.in_channels)]
                scores[c][t] = float(conv2.bias[c]) + sum(w * h for w, h in zip(weights, hidden))
        for c in range(channels):
            weights = loop_softmax(scores[c])
            values = x[b, c].tolist()
            mean = sum(w * v for w, v in zip(weights, values))
            std = math.sqrt(sum(w * (v - mean) ** 2 for w, v in zip(weights, values)))
            out[b, c], out[b, channels + c] = mean, std
    return out


@torch.no_grad()
def test_attentive_statistics_pooling_matches_loop():
    torch.manual_seed(1)
    for global_context in (True, False):
        pool = AttentiveStatisticsPooling(channels=4, attention_channels=6, global_context=global_context).double()
        batch_norm = pool.attention[2]  # non-trivial statistics, so the loop checks them too
        batch_norm.running_mean.uniform_(-0.5, 0.5)
        batch_norm.running_var.uniform_(0.5, 2.0)
        batch_norm.weight.uniform_(0.5, 1.5)
        batch_norm.bias.uniform_(-0.2, 0.2)
        pool.eval()
        x = torch.randn(2, 4, 9, dtype=torch.float64)
        got = pool(x)
        assert got.shape == (2, 8) and pool.out_features == 8
        assert torch.allclose(got, loop_attentive_statistics(pool, x), rtol=1e-9, atol=1e-12)


def test_attentive_statistics_with_uniform_attention_are_plain_mean_and_std():
    pool = AttentiveStatisticsPooling(channels=3, attention_channels=5).eval()
    with torch.no_grad():  # zero scores → softmax is uniform
        pool.attention[4].weight.zero_()
        pool.attention[4].bias.zero_()
    x = torch.randn(2, 3, 20)
    expected = torch.cat([x.mean(-1), x.std(-1, unbiased=False)], dim=1)
    assert torch.allclose(pool(x), expected, atol=1e-5)


def test_attentive_statistics_gradient_finite_on_constant_channel():
    pool = AttentiveStatisticsPooling(channels=2, attention_channels=4)
    x = torch.ones(3, 2, 10, requires_grad=True)
    pool(x).sum().backward()
    assert torch.isfinite(x.grad).all()

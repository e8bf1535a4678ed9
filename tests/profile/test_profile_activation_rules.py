"""Activations without a moduleprofiler figure, against instrumented reference implementations: each
reference computes torch's output while the kit counts its operations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from leanspeech.profile.rules import rule_for


def reference_celu(ops, x, alpha):
    return ops.ew("mul", ops.ew("elu", ops.ew("div", x, torch.tensor(alpha))), torch.tensor(alpha))


def reference_softshrink(ops, x, lambd):
    magnitude = ops.ew("relu", ops.ew("sub", ops.ew("abs", x), torch.tensor(lambd)))
    return ops.ew("mul", ops.ew("sign", x), magnitude)


REFERENCES = [
    (nn.CELU(alpha=0.7), lambda ops, x: reference_celu(ops, x, 0.7)),
    (nn.Hardshrink(0.4), lambda ops, x: ops.ew("where_gt", ops.ew("abs", x), torch.tensor(0.4), x, torch.tensor(0.0))),
    (nn.Threshold(0.1, -2.0), lambda ops, x: ops.ew("where_gt", x, torch.tensor(0.1), x, torch.tensor(-2.0))),
    (nn.Softshrink(0.3), lambda ops, x: reference_softshrink(ops, x, 0.3)),
    (nn.Softsign(), lambda ops, x: ops.ew("div", x, ops.ew("add", torch.tensor(1.0), ops.ew("abs", x)))),
    (nn.Tanhshrink(), lambda ops, x: ops.ew("sub", x, ops.ew("tanh", x))),
    (nn.LogSigmoid(), lambda ops, x: ops.ew("neg", ops.ew("log", ops.ew("add", torch.tensor(1.0), ops.ew("exp", ops.ew("neg", x)))))),
    (nn.Softmax2d(), lambda ops, x: ops.softmax(x, -3)),
]


@pytest.mark.parametrize("layer,reference", REFERENCES, ids=[type(layer).__name__ for layer, _ in REFERENCES])
def test_activation_against_counted_reference(ops, layer, reference):
    x = torch.randn(2, 3, 4, 5)
    with torch.no_grad():
        out = layer(x)
    expected = reference(ops, x)
    torch.testing.assert_close(expected, out, atol=1e-5, rtol=1e-5)
    cost = rule_for(layer)(layer, (x,), out)
    assert cost.total_flops == ops.flops
    assert cost.macs == 0 and cost.activations == 0


def test_rrelu_at_inference_counts_as_the_leaky_relu_it_is():
    layer, x = nn.RReLU(0.1, 0.3).eval(), torch.randn(4, 6)
    with torch.no_grad():
        out = layer(x)
    torch.testing.assert_close(out, F.leaky_relu(x, 0.2))
    leaky = nn.LeakyReLU(0.2)
    assert rule_for(layer)(layer, (x,), out).total_flops == rule_for(leaky)(leaky, (x,), out).total_flops


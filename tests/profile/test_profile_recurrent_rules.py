"""GRU / LSTM / RNN rules against instrumented step-by-step references that reproduce torch's outputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from leanspeech.profile import costs
from leanspeech.profile.model_profile import profile_model
from leanspeech.profile.rules import rule_for


def _weights(module: nn.RNNBase, layer: int, suffix: str = ""):
    get = lambda n: getattr(module, f"{n}_l{layer}{suffix}", None)  # noqa: E731
    return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"), get("weight_hr")


def gru_step(ops, x, h, w_ih, w_hh, b_ih, b_hh, rows=None):
    """One GRU step; `rows` (a D-GRU's selected units) limits r, n and the update to those units."""
    hidden = h.shape[-1]
    chunks = lambda w: w.split(hidden) if w is not None else (None,) * 3  # noqa: E731
    (wir, wiz, win), (whr, whz, whn) = chunks(w_ih), chunks(w_hh)
    (bir, biz, bin_), (bhr, bhz, bhn) = chunks(b_ih), chunks(b_hh)
    z = ops.ew("sigmoid", ops.ew("add", ops.matvec(wiz, x, biz), ops.matvec(whz, h, bhz)))
    sel = slice(None) if rows is None else rows
    pick = lambda t: None if t is None else t[sel]  # noqa: E731
    r = ops.ew("sigmoid", ops.ew("add", ops.matvec(wir[sel], x, pick(bir)), ops.matvec(whr[sel], h, pick(bhr))))
    n = ops.ew("tanh", ops.ew("add", ops.matvec(win[sel], x, pick(bin_)), ops.ew("mul", r, ops.matvec(whn[sel], h, pick(bhn)))))
    zs, hs = z[..., sel], h[..., sel]
    new = ops.ew("add", ops.ew("mul", ops.ew("sub", torch.ones_like(zs), zs), n), ops.ew("mul", zs, hs))
    out = h.clone()
    out[..., sel] = new
    return out


def lstm_step(ops, x, state, w_ih, w_hh, b_ih, b_hh, w_hr):
    h, c = state
    hidden = c.shape[-1]
    gates = ops.ew("add", ops.matvec(w_ih, x, b_ih), ops.matvec(w_hh, h, b_hh))
    i, f, g, o = gates.split(hidden, dim=-1)
    i, f, o = ops.ew("sigmoid", i), ops.ew("sigmoid", f), ops.ew("sigmoid", o)
    g = ops.ew("tanh", g)
    c = ops.ew("add", ops.ew("mul", f, c), ops.ew("mul", i, g))
    h = ops.ew("mul", o, ops.ew("tanh", c))
    if w_hr is not None:
        h = ops.matvec(w_hr, h)
    return h, c


def rnn_step(ops, x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity):
    return ops.ew(nonlinearity, ops.ew("add", ops.matvec(w_ih, x, b_ih), ops.matvec(w_hh, h, b_hh)))


def run_reference(ops, module: nn.RNNBase, x: torch.Tensor) -> torch.Tensor:
    """(T, B, I) time-major → (T, B, D·H_out), running every layer and direction step by step."""
    directions = 2 if module.bidirectional else 1
    layer_input = x
    for layer in range(module.num_layers):
        outputs = []
        for direction in range(directions):
            w = _weights(module, layer, "_reverse" if direction else "")
            steps = range(x.shape[0]) if direction == 0 else reversed(range(x.shape[0]))
            out_size = getattr(module, "proj_size", 0) or module.hidden_size
            h = torch.zeros(x.shape[1], out_size)
            state = (h, torch.zeros(x.shape[1], module.hidden_size))
            seq = [None] * x.shape[0]
            for t in steps:
                if isinstance(module, nn.GRU):
                    h = gru_step(ops, layer_input[t], h, *w[:4])
                    seq[t] = h
                elif isinstance(module, nn.LSTM):
                    state = lstm_step(ops, layer_input[t], state, *w)
                    seq[t] = state[0]
                else:
                    h = rnn_step(ops, layer_input[t], h, *w[:4], module.nonlinearity)
                    seq[t] = h
            outputs.append(torch.stack(seq))
        layer_input = torch.cat(outputs, dim=-1)
    return layer_input


CASES = [
    dict(num_layers=1, bidirectional=False, bias=True, batch_first=False),
    dict(num_layers=2, bidirectional=False, bias=False, batch_first=True),
    dict(num_layers=3, bidirectional=True, bias=True, batch_first=True),
    dict(num_layers=2, bidirectional=True, bias=False, batch_first=False),
]


@pytest.mark.parametrize("kind", ["gru", "lstm", "lstm_proj", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("case", CASES)
def test_recurrent_rule_matches_instrumented_reference(ops, kind, case):
    torch.manual_seed(0)
    steps, batch, inp, hidden = 4, 3, 5, 6
    if kind == "gru":
        module = nn.GRU(inp, hidden, **case)
    elif kind.startswith("lstm"):
        module = nn.LSTM(inp, hidden, proj_size=4 if kind == "lstm_proj" else 0, **case)
    else:
        module = nn.RNN(inp, hidden, nonlinearity=kind.split("_")[1], **case)
    x = torch.randn(steps, batch, inp)
    with torch.no_grad():
        expected = run_reference(ops, module, x)
        given = x.transpose(0, 1) if case["batch_first"] else x
        out = module(given)[0]
        out = out.transpose(0, 1) if case["batch_first"] else out
    torch.testing.assert_close(expected, out, atol=1e-5, rtol=1e-4)  # the reference is the real computation
    cost = rule_for(module)(module, (given,), out)
    assert cost.macs == ops.macs
    assert cost.total_flops == ops.flops


@pytest.mark.parametrize("kind", ["gru", "lstm", "rnn"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("unbatched", [True, False])
def test_cells_match_reference(ops, kind, bias, unbatched):
    torch.manual_seed(1)
    cls = {"gru": nn.GRUCell, "lstm": nn.LSTMCell, "rnn": nn.RNNCell}[kind]
    cell = cls(7, 5, bias=bias)
    x = torch.randn(7) if unbatched else torch.randn(3, 7)
    h = torch.zeros(*x.shape[:-1], 5)
    b_ih, b_hh = (cell.bias_ih, cell.bias_hh) if bias else (None, None)
    with torch.no_grad():
        if kind == "gru":
            expected, out = gru_step(ops, x, h, cell.weight_ih, cell.weight_hh, b_ih, b_hh), cell(x)
        elif kind == "lstm":
            expected, out = lstm_step(ops, x, (h, h), cell.weight_ih, cell.weight_hh, b_ih, b_hh, None)[0], cell(x)[0]
        else:
            expected, out = rnn_step(ops, x, h, cell.weight_ih, cell.weight_hh, b_ih, b_hh, "tanh"), cell(x)
    torch.testing.assert_close(expected, out, atol=1e-5, rtol=1e-4)
    cost = rule_for(cell)(cell, (x,), out)
    assert (cost.macs, cost.total_flops) == (ops.macs, ops.flops)


@pytest.mark.parametrize("percent", [100, 75, 50, 25])
def test_dgru_cost_counts_selected_units_only(ops, percent):
    """A D-GRU step computes z for all units and r, n, h' for the top P % of z: the reference does
    exactly that, and the closed form gives (1 + 2P/100)/3 of the dense gate work."""
    torch.manual_seed(2)
    hidden, inp, batch = 8, 5, 1
    gru = nn.GRUCell(inp, hidden)
    x, h = torch.randn(batch, inp), torch.randn(batch, hidden)
    selected = torch.arange(hidden * percent // 100)
    with torch.no_grad():
        gru_step(ops, x, h, gru.weight_ih, gru.weight_hh, gru.bias_ih, gru.bias_hh, rows=selected)
    cost = costs.gru_cost(1, batch, inp, hidden, update_fraction=percent / 100)
    assert cost.macs == pytest.approx(ops.macs)
    assert cost.total_flops == pytest.approx(ops.flops)
    dense = costs.gru_cost(1, batch, inp, hidden)
    assert cost.macs / dense.macs == pytest.approx((1 + 2 * percent / 100) / 3)


def test_packed_sequence_counts_only_real_steps():
    gru = nn.GRU(4, 6, batch_first=True)
    lengths = torch.tensor([5, 3, 1])
    packed = pack_padded_sequence(torch.randn(3, 5, 4), lengths, batch_first=True)
    cost = rule_for(gru)(gru, (packed,), gru(packed))
    assert cost.macs == costs.gru_cost(int(lengths.sum()), 1, 4, 6).macs


def test_cell_in_a_loop_is_counted_once_per_call():
    class Loop(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.GRUCell(3, 4)

        def forward(self, x):
            h = torch.zeros(x.shape[0], 4)
            for t in range(x.shape[1]):
                h = self.cell(x[:, t], h)
            return h

    profile = profile_model(Loop(), torch.randn(2, 7, 3))
    assert profile.macs == costs.gru_cost(7, 2, 3, 4).macs / 2  # per sample
    assert next(r for r in profile.layers if r.name == "cell").calls == 7


def test_gru_flops_equal_moduleprofiler_formula():
    """The width paper's ruler: 6·T·B·H·(I + (2L − 1)·H + 3.5·L), bidirectional 12·T·B·H·(I + (3L − 2)·H + 3.5·L)."""
    t, b, i, h, layers = 10, 2, 40, 24, 3
    assert costs.gru_cost(t, b, i, h, layers).total_flops == 6 * t * b * h * (i + (2 * layers - 1) * h + 3.5 * layers)
    assert costs.gru_cost(t, b, i, h, layers, bidirectional=True).total_flops == 12 * t * b * h * (
        i + (3 * layers - 2) * h + 3.5 * layers
    )
    assert costs.lstm_cost(t, b, i, h, layers).total_flops == 8 * t * b * h * (i + (2 * layers - 1) * h + 3.875 * layers)

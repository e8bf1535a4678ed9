"""Complexity profiler: parameters, MACs, FLOP/s, activation memory, file size and latency.

`profile_model(model)` counts one real forward with per-layer closed-form rules (rules.py, costs.py);
`measure_latency(model)` times it; `print_profile` / `report.write_csv` / `report.write_json` output it.
Conventions: docs/profiler.md.
"""

from leanspeech.profile import params, report
from leanspeech.profile.costs import ELEMENTWISE_FLOPS, conv_cost, gru_cost, linear_cost, lstm_cost, rnn_cost
from leanspeech.profile.latency import Timing, measure_latency, measure_module_latency
from leanspeech.profile.model_profile import ModelProfile, profile_model
from leanspeech.profile.report import print_profile
from leanspeech.profile.rules import LayerCost, register_extra, register_free, register_rule, rule_for

__all__ = [
    "ELEMENTWISE_FLOPS", "LayerCost", "ModelProfile", "Timing", "conv_cost", "gru_cost", "linear_cost", "lstm_cost",
    "measure_latency", "measure_module_latency", "params", "print_profile", "profile_model", "register_extra",
    "register_free", "register_rule", "report", "rnn_cost", "rule_for",
]

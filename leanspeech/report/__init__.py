"""Trade-off report across runs: one table (CSV, Markdown) and one self-contained HTML page with PNG
Pareto plots per task (metric vs FLOP/s, metric vs measured latency), one marker per method.

What a run directory gives the report: its `metrics.json`, in one of three forms.

1. One point (any run that is not a training-engine run, e.g. a stacked-compression run)::

       {"task": "vad",                      # groups the report: tasks are never mixed in one plot
        "name": "dyn-0.25",                 # default: the run directory's name
        "method": "width",                  # one marker per method; default "baseline"
        "kind": "ours",                     # or "peer" (drawn hollow, e.g. silero-vad, dnsmos)
        "metric": {"name": "eer", "value": 0.07, "higher_is_better": false},
        "complexity": {"params": 1.2e4, "macs_per_second": ..., "flops_per_second": ...,
                       "activation_bytes": ..., "latency_ms": ..., "rtf": ...},   # optional, any subset
        "model": "model.pt",                # optional: the model file, relative to the run directory
        "series": "stack-vad-dgru"}         # optional: points of one series are joined in order (a stack)

2. Several points (a study with several models and its peers): ``{"points": [<point>, ...], ...}``.
3. The training engine's summary (`leanspeech/train/history.py`): the monitored best value is the
   metric (its mode gives the direction), the task is the saved model's `task`, the method is the
   recipe's `extra.method` (default "baseline").

Complexity not given is profiled from the point's model (its "model", else the run's consolidated.pt or
model.pt for a single-point run). Latency is measured here, interleaved over all models, when asked.
Runs without a readable metric are listed as incomplete, with the reason.
"""

from leanspeech.report.build import build_report, collect
from leanspeech.report.pareto import pareto_front
from leanspeech.report.points import Incomplete, Point, read_run

__all__ = ["Incomplete", "Point", "build_report", "collect", "pareto_front", "read_run"]

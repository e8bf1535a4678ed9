"""Training engine: a recipe in, a run directory out (checkpoints, logs, metrics.json, model.pt).

Methods plug in through `hooks.EXTRA_LOSSES` (terms added to the loss) and `hooks.CALLBACKS`
(changes mid-training); tasks through the MODELS and DATASETS registries and the recipe's `task` section.
"""

from leanspeech.train.hooks import CALLBACKS, EXTRA_LOSSES
from leanspeech.train.losses import LOSSES
from leanspeech.train import enhance_losses  # noqa: F401  (registers the enhancement losses)
from leanspeech.train import width  # noqa: F401  (registers width-penalty and width-projection)
from leanspeech.train.metrics import METRICS
from leanspeech.train.module import TaskModule
from leanspeech.train.run import train

__all__ = ["CALLBACKS", "EXTRA_LOSSES", "LOSSES", "METRICS", "TaskModule", "train"]

"""`leanspeech train RECIPE [key=value ...]`: train a model from a YAML recipe."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  leanspeech train recipes/vad.yaml
  leanspeech train recipes/vad.yaml trainer.max_epochs=3 optim.lr=3e-4 run_dir=runs/vad-short
  leanspeech train recipes/vad.yaml trainer.strategy=ddp trainer.devices=2 trainer.accelerator=cpu

Overrides are dotted keys of the recipe with YAML values. Every key is checked before training starts.
Running the same command again with the same run_dir resumes from run_dir/checkpoints/last.ckpt
(set resume=false to refuse instead). The run directory holds config.yaml, checkpoints/, logs/,
metrics.json and model.pt (the best model, for leanspeech.models.io.load_model).
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model from a YAML recipe",
        description="Train a model from a YAML recipe, with dotted key=value overrides.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("recipe", help="the recipe YAML file")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted recipe keys to override")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    from leanspeech.config import load_recipe
    from leanspeech.train import train

    run_dir = train(load_recipe(args.recipe, args.overrides))
    if rank_zero_only.rank == 0:
        print(f"run directory: {run_dir}")
    return 0

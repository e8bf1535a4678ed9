"""leanspeech: train speech models and make them cheap to run, with honest numbers."""

__version__ = "0.1.0"

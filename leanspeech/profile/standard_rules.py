"""Loads the counting rules of torch.nn layers and of leanspeech's front-ends and pooling layers."""

from leanspeech.profile import speech_rules, torch_rules  # noqa: F401

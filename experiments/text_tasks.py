"""Deprecated alias of :mod:`bipe.experiments.tasks.text` (the text tasks moved there)."""

from bipe.experiments.tasks.text import (  # noqa: F401 (re-exported names)
    LENGTH_MULTIPLES,
    PasskeyTask,
    TextLMTask,
    position_profile,
    segment_profile,
    token_scores,
)

__all__ = ["PasskeyTask", "TextLMTask", "position_profile", "segment_profile", "token_scores"]

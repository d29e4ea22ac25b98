"""Scorers behind one protocol, looked up by name."""

from __future__ import annotations

from common.scorers.base import (
    FrameRequirements,
    LoadedQuery,
    SampledFrame,
    Scorer,
    WindowInput,
)
from common.scorers.specs import SCORER_NAMES, ScorerSpec, frame_requirements_for, scorer_spec
from common.settings import Settings

__all__ = [
    "SCORER_NAMES",
    "FrameRequirements",
    "LoadedQuery",
    "SampledFrame",
    "Scorer",
    "ScorerSpec",
    "WindowInput",
    "build_scorer",
    "check_scorer_name",
    "frame_requirements_for",
    "scorer_spec",
]


def check_scorer_name(name: str) -> str:
    """``name`` if it is a known scorer, else a clear error listing the known ones."""
    return scorer_spec(name).name


def build_scorer(name: str, settings: Settings) -> Scorer:
    """Construct the named scorer. Heavy models load lazily on first use."""
    name = check_scorer_name(name)
    if name == "text":
        from common.scorers.text import TextScorer

        return TextScorer()
    if name == "qwen3-vl":
        from common.scorers.qwen3_vl import Qwen3VLScorer

        return Qwen3VLScorer(
            settings.model, revision=settings.model_revision, frame_pixels=settings.frame_pixels
        )
    from common.scorers.null import NullBenchmarkScorer

    return NullBenchmarkScorer()

"""Scorers behind one protocol, looked up by name."""

from __future__ import annotations

from common.errors import InvalidInputError
from common.scorers.base import (
    FrameRequirements,
    LoadedQuery,
    SampledFrame,
    Scorer,
    WindowInput,
)
from common.settings import Settings

#: Names accepted by ``--scorer`` and ``SEGLOCATE_SCORER``.
SCORER_NAMES = ("ocr", "qwen3-vl", "null-benchmark")

__all__ = [
    "SCORER_NAMES",
    "FrameRequirements",
    "LoadedQuery",
    "SampledFrame",
    "Scorer",
    "WindowInput",
    "build_scorer",
    "check_scorer_name",
]


def check_scorer_name(name: str) -> str:
    if name not in SCORER_NAMES:
        raise InvalidInputError(
            f"scorer {name!r}", f"unknown; choose one of {', '.join(SCORER_NAMES)}"
        )
    return name


def build_scorer(name: str, settings: Settings) -> Scorer:
    """Construct the named scorer. Heavy models load lazily on first use."""
    check_scorer_name(name)
    if name == "ocr":
        from common.scorers.ocr import OcrScorer

        return OcrScorer()
    if name == "qwen3-vl":
        from common.scorers.qwen3_vl import Qwen3VLScorer

        return Qwen3VLScorer(settings.model)
    from common.scorers.null import NullBenchmarkScorer

    return NullBenchmarkScorer()

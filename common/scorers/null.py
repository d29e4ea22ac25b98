"""A constant scorer for pipeline benchmarks only: it measures the queue, not a model."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from common.schemas import ScorerInfo
from common.scorers.base import (
    LoadedQuery,
    SampledFrame,
    WindowInput,
    WindowMatch,
    matches_of,
)
from common.scorers.specs import scorer_spec

#: The score every window gets, 0-100.
NULL_SCORE = 50.0


class NullBenchmarkScorer:
    """Gives every window :data:`NULL_SCORE` without looking at it. Not for real queries."""

    spec = scorer_spec("null-benchmark")
    info = ScorerInfo(name=spec.name, model_id=None, revision=None)
    frame_requirements = spec.frame_requirements
    query_kinds = spec.query_kinds
    needs_window_pixels = spec.needs_window_pixels
    features_id: str | None = None

    def check_query(self, query: LoadedQuery) -> None:
        return None

    def extract_features(self, frames: Iterable[SampledFrame]) -> dict[str, Any]:
        return {}

    def score_windows(
        self, query: LoadedQuery, windows: Sequence[WindowInput], features: dict[str, Any] | None
    ) -> list[float]:
        return [NULL_SCORE for _ in windows]

    def match_windows(
        self,
        query: LoadedQuery,
        windows: Sequence[WindowInput],
        features: dict[str, Any] | None,
        transcript: object,
    ) -> list[WindowMatch]:
        return matches_of(self.score_windows(query, windows, features))

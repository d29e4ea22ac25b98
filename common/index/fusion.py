"""Reciprocal-rank fusion: one ranking from several, by rank alone (scores of different signals,
BM25 and cosine, are not comparable; their ranks are). Pure logic.

A candidate's fused score is ``sum(weight_s / (k + rank_s))`` over the signals ``s`` that
ranked it (ranks from 1), as in Cormack, Clarke and Büttcher (SIGIR 2009), with ``k = 60``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

#: The RRF constant: damps the top ranks' lead (60 is the published default).
RRF_K = 60

KeyT = TypeVar("KeyT", bound=Hashable)


@dataclass(frozen=True)
class Fused(Generic[KeyT]):
    """A fused candidate: its key, fused score, and the signals that ranked it."""

    key: KeyT
    score: float
    #: Names of the signals whose lists held this candidate, sorted.
    signals: tuple[str, ...]


def reciprocal_rank_fusion(
    rankings: Mapping[str, Sequence[KeyT]],
    k: int = RRF_K,
    weights: Mapping[str, float] | None = None,
) -> list[Fused[KeyT]]:
    """Fuse ranked lists (best first, by signal name) into one list, best first.

    A key repeated within one list counts at its best rank. Ties break by the best single rank,
    then by the order signals are given, so the result is deterministic.
    """
    if k < 1:
        raise ValueError(f"rrf k must be at least 1, got {k}")
    scores: dict[KeyT, float] = {}
    signals: dict[KeyT, list[str]] = {}
    best: dict[KeyT, tuple[int, int]] = {}
    for order, (signal, ranking) in enumerate(rankings.items()):
        weight = 1.0 if weights is None else weights.get(signal, 1.0)
        seen: set[KeyT] = set()
        for rank, key in enumerate(ranking, start=1):
            if key in seen:
                continue
            seen.add(key)
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
            signals.setdefault(key, []).append(signal)
            best[key] = min(best.get(key, (rank, order)), (rank, order))
    ordered = sorted(scores, key=lambda key: (-scores[key], best[key]))
    return [Fused(key, scores[key], tuple(sorted(signals[key]))) for key in ordered]

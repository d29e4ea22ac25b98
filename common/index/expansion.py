"""Candidate expansion: each recalled window brings its neighbours, so that clips can still grow
over adjacent windows and their boundaries can still be refined. Pure logic.

The budget counts every window that will be reranked: candidates are taken best first, each
with its neighbours within ``radius`` windows (nearest first), until ``budget`` windows are
taken. A window is taken once; if it was recalled itself, it keeps its own score and signals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Signal name of a window taken only because it neighbours a recalled one.
NEIGHBOUR = "neighbour"
#: Neighbours taken on each side of a recalled window.
DEFAULT_RADIUS = 1


@dataclass(frozen=True)
class Candidate:
    """A window to rerank: (video, window index), its fused score and why it was taken."""

    video: str
    window: int
    #: Fused recall score (a neighbour inherits its recalled window's score).
    score: float
    #: Signals that recalled it (``text``, ``vector:<embedder>``), or ``("neighbour",)``.
    signals: tuple[str, ...]


def expand_candidates(
    recalled: Sequence[Candidate],
    window_counts: Mapping[str, int],
    budget: int,
    radius: int = DEFAULT_RADIUS,
) -> list[Candidate]:
    """Recalled windows (best first) and their neighbours, at most ``budget`` in all.

    ``window_counts`` gives each video's number of windows (neighbours stay inside the video).
    The result is in the order windows were taken: best candidates and their neighbours first.
    """
    if budget < 1:
        raise ValueError(f"recall budget must be at least 1 window, got {budget}")
    if radius < 0:
        raise ValueError(f"neighbour radius must be >= 0, got {radius}")
    own = {(c.video, c.window): c for c in reversed(recalled)}  # best occurrence wins
    taken: dict[tuple[str, int], Candidate] = {}
    for candidate in recalled:
        if len(taken) >= budget:
            break
        count = window_counts[candidate.video]
        for offset in _offsets(radius):
            index = candidate.window + offset
            key = (candidate.video, index)
            if not 0 <= index < count or key in taken:
                continue
            if len(taken) >= budget:
                break
            taken[key] = own.get(key) or Candidate(
                candidate.video, index, candidate.score, (NEIGHBOUR,)
            )
    return list(taken.values())


def _offsets(radius: int) -> list[int]:
    """0, -1, +1, -2, +2, ...: the window itself, then its nearest neighbours."""
    out = [0]
    for distance in range(1, radius + 1):
        out += [-distance, distance]
    return out

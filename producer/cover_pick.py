"""Which frames make the covers: a pure choice over scored one-frame windows.

Best score first, ties to the earlier time, and no two picks closer than ``min_gap`` seconds
(the covers come from different parts of the video). Frames that only matched by what was said
(the text scorer's ``speech`` signal) come after every frame that showed something: a cover is a
picture, and a frame's score for words spoken over it says nothing about how it looks. Frames
library recall passed over (``reranked`` False) were never scored and are never picked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from common.schemas import WindowScore

#: Tolerance of time comparisons, seconds (window times are rounded to microseconds).
EPSILON_S = 1e-6
#: The text scorer's signal for a window matched only by words spoken in it.
SPOKEN_ONLY = "speech"


@dataclass(frozen=True)
class FrameScore:
    """One scored frame: its time in seconds, its score 0-100, what matched (or None)."""

    time: float
    score: float
    signal: str | None = None


def frames_of(windows: Iterable[WindowScore]) -> list[FrameScore]:
    """The scored frames of a one-frame-per-window result: each window's frame is the one
    sampled at its start. Windows recall passed over are left out."""
    return [FrameScore(w.start, w.score, w.signal) for w in windows if w.reranked]


def pick_frames(frames: Iterable[FrameScore], top_k: int, min_gap: float) -> list[FrameScore]:
    """Up to ``top_k`` frames, best first, no two within ``min_gap`` seconds of each other.

    Order: frames that showed something before frames matched only by speech, then higher
    score, then earlier time. A frame exactly ``min_gap`` from a pick may be picked.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    if not min_gap >= 0:  # also refuses NaN
        raise ValueError(f"min_gap must be 0 or more seconds, got {min_gap}")
    ranked = sorted(
        (f for f in frames if math.isfinite(f.score)),
        key=lambda f: (f.signal == SPOKEN_ONLY, -f.score, f.time),
    )
    picks: list[FrameScore] = []
    for frame in ranked:
        if all(abs(frame.time - p.time) >= min_gap - EPSILON_S for p in picks):
            picks.append(frame)
            if len(picks) == top_k:
                break
    return picks

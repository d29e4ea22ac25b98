"""Window scores -> clips: pure functions, no I/O. Times in seconds, scores 0-100.

A clip grows from the best unused window over time-adjacent windows whose score is within
``merge_margin`` points of that peak, so a slide shown from 0:35 to 1:10 comes back as one clip
spanning it. Each window's share of the timeline is the part closer to its centre than to its
neighbours' centres, so overlapping windows give finer boundaries. Clips never overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from common.schemas import Clip, WindowScore

#: A window joins a clip when its score is at least the clip's peak minus this many points.
MERGE_MARGIN = 15.0
#: Windows farther apart than this (seconds) are not adjacent.
ADJACENCY_GAP_S = 1e-3


@dataclass(frozen=True)
class ClipSpan:
    """A clip within one video, before cross-video ranking."""

    start: float  #: seconds
    end: float  #: seconds
    score: float  #: 0-100, the peak window's score
    peak_window: int  #: index into the (start-sorted) windows


def window_shares(windows: Sequence[WindowScore]) -> list[tuple[float, float]]:
    """For each window (sorted by start), the span of time closer to its centre than to others'."""
    centres = [(w.start + w.end) / 2 for w in windows]
    shares = []
    for i, w in enumerate(windows):
        lo = w.start
        hi = w.end
        if i > 0 and windows[i - 1].end > w.start:
            lo = max(lo, (centres[i - 1] + centres[i]) / 2)
        if i + 1 < len(windows) and windows[i + 1].start < w.end:
            hi = min(hi, (centres[i] + centres[i + 1]) / 2)
        shares.append((lo, max(lo, hi)))
    return shares


def _adjacent(a: WindowScore, b: WindowScore) -> bool:
    return b.start <= a.end + ADJACENCY_GAP_S


def merge_windows(
    windows: Sequence[WindowScore],
    min_score: float = 0.0,
    top_k: int = 5,
    merge_margin: float = MERGE_MARGIN,
) -> list[ClipSpan]:
    """Best-first clips from a video's window scores; at most ``top_k``, none below ``min_score``.

    ``windows`` must be sorted by start time. Ties are broken by the earlier window.
    """
    if top_k < 1:
        return []
    order = sorted(range(len(windows)), key=lambda i: (-windows[i].score, windows[i].start))
    shares = window_shares(windows)
    used = [False] * len(windows)
    clips: list[ClipSpan] = []
    for peak in order:
        if used[peak]:
            continue
        peak_score = windows[peak].score
        if peak_score < min_score:
            break
        threshold = max(min_score, peak_score - merge_margin)
        lo = hi = peak
        while (
            lo > 0
            and not used[lo - 1]
            and windows[lo - 1].score >= threshold
            and _adjacent(windows[lo - 1], windows[lo])
        ):
            lo -= 1
        while (
            hi + 1 < len(windows)
            and not used[hi + 1]
            and windows[hi + 1].score >= threshold
            and _adjacent(windows[hi], windows[hi + 1])
        ):
            hi += 1
        for i in range(lo, hi + 1):
            used[i] = True
        clips.append(
            ClipSpan(start=shares[lo][0], end=shares[hi][1], score=peak_score, peak_window=peak)
        )
        if len(clips) == top_k:
            break
    return clips


def rank_clips(per_video: Sequence[tuple[str, Sequence[Clip]]], top_k: int) -> list[Clip]:
    """Clips of all videos ranked by score (comparable across videos), best first, ranks 1..k."""
    pooled = [clip for _video, clips in per_video for clip in clips]
    pooled.sort(key=lambda c: (-c.score, c.video, c.start))
    return [clip.model_copy(update={"rank": rank}) for rank, clip in enumerate(pooled[:top_k], 1)]

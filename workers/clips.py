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


def edge_probes(
    windows: Sequence[WindowScore], clips: Sequence[ClipSpan], step: float
) -> list[tuple[float, float]]:
    """Sub-windows of ``step`` seconds covering each clip's first and last window's share.

    Scoring them locates where, inside a coarse edge window, the evidence starts and ends.
    Returned sorted and without duplicates (seconds).
    """
    shares = window_shares(windows)
    spans: set[tuple[float, float]] = set()
    for clip in clips:
        for index in _edge_windows(windows, clip):
            lo, hi = shares[index]
            t = lo
            while t < hi - 1e-6:
                spans.add((round(t, 6), round(min(t + step, hi), 6)))
                t += step
    return sorted(spans)


def _edge_windows(windows: Sequence[WindowScore], clip: ClipSpan) -> list[int]:
    inside = [i for i, w in enumerate(windows) if w.start < clip.end and w.end > clip.start]
    shares = window_shares(windows)
    inside = [i for i in inside if shares[i][1] > clip.start and shares[i][0] < clip.end]
    return sorted({inside[0], inside[-1]}) if inside else []


def refine_clip(
    clip: ClipSpan,
    probes: Sequence[WindowScore],
    windows: Sequence[WindowScore],
    min_score: float = 0.0,
    merge_margin: float = MERGE_MARGIN,
) -> ClipSpan:
    """Trim a clip's ends to where its edge probes still meet the clip's merge threshold.

    The start moves to the first probe of the run of strong probes that reaches the end of the
    first window; the end to the last probe of the run that starts the last window. A clip of
    one window keeps the run of strong probes around its best probe. Ends without any strong
    probe stay where they were. The score (the peak window's) is unchanged.
    """
    threshold = max(min_score, clip.score - merge_margin)
    edges = _edge_windows(windows, clip)
    if not edges:
        return clip
    shares = window_shares(windows)

    def probes_in(index: int) -> list[WindowScore]:
        lo, hi = shares[index]
        return sorted(
            (p for p in probes if p.start >= lo - 1e-6 and p.end <= hi + 1e-6),
            key=lambda p: p.start,
        )

    start, end = clip.start, clip.end
    if len(edges) == 1:
        inner = probes_in(edges[0])
        strong = [p.score >= threshold for p in inner]
        if any(strong):
            best = max(range(len(inner)), key=lambda i: inner[i].score)
            lo = hi = best
            while lo > 0 and strong[lo - 1]:
                lo -= 1
            while hi + 1 < len(inner) and strong[hi + 1]:
                hi += 1
            start, end = inner[lo].start, inner[hi].end
    else:
        first, last = probes_in(edges[0]), probes_in(edges[-1])
        run = _strong_suffix(first, threshold)
        if run is not None:
            start = first[run].start
        run = _strong_prefix(last, threshold)
        if run is not None:
            end = last[run].end
    return ClipSpan(start=max(start, clip.start), end=min(end, clip.end), score=clip.score,
                    peak_window=clip.peak_window)  # fmt: skip


def _strong_suffix(probes: Sequence[WindowScore], threshold: float) -> int | None:
    """Index where the trailing run of probes at or above ``threshold`` begins."""
    index = None
    for i in range(len(probes) - 1, -1, -1):
        if probes[i].score < threshold:
            break
        index = i
    return index


def _strong_prefix(probes: Sequence[WindowScore], threshold: float) -> int | None:
    """Index where the leading run of probes at or above ``threshold`` ends."""
    index = None
    for i, probe in enumerate(probes):
        if probe.score < threshold:
            break
        index = i
    return index

"""Windowing arithmetic: pure functions, times in seconds."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from common.schemas import WindowSpan

#: A tail shorter than this fraction of a window is merged into the previous window.
TAIL_MERGE_FRACTION = 0.5
#: Tolerance for float comparisons of times, seconds.
EPSILON_S = 1e-6


def plan_windows(duration: float, window: float, stride: float) -> list[WindowSpan]:
    """Windows of ``window`` seconds every ``stride`` seconds covering ``[0, duration]``.

    - A video shorter than one window is one window ``[0, duration]``.
    - The tail: after the last full window, the part not yet covered becomes a shorter window
      starting at the next stride if it is at least half a window long; otherwise the last full
      window is stretched to the end of the video. Every instant is covered; no window is empty.
    """
    if duration <= 0:
        raise ValueError(f"duration must be positive, got {duration}")
    if window <= 0 or stride <= 0:
        raise ValueError(f"window and stride must be positive, got {window}, {stride}")
    if stride > window + EPSILON_S:
        raise ValueError(f"stride {stride} larger than window {window} leaves gaps")
    if duration <= window + EPSILON_S:
        return [WindowSpan(start=0.0, end=round(duration, 6))]
    starts: list[float] = []
    k = 0
    while k * stride + window <= duration + EPSILON_S:
        starts.append(k * stride)
        k += 1
    spans = [WindowSpan(start=round(s, 6), end=round(s + window, 6)) for s in starts]
    covered = spans[-1].end
    if duration - covered > EPSILON_S:
        next_start = starts[-1] + stride
        if duration - next_start >= TAIL_MERGE_FRACTION * window:
            spans.append(WindowSpan(start=round(next_start, 6), end=round(duration, 6)))
        else:
            spans[-1] = WindowSpan(start=spans[-1].start, end=round(duration, 6))
    return spans


def frames_in_window(frame_times: Sequence[float], start: float, end: float) -> list[int]:
    """Indices of frames with ``start <= time < end``; the nearest frame if none falls inside.

    ``frame_times`` must be sorted ascending (seconds).
    """
    if not frame_times:
        return []
    lo = bisect.bisect_left(frame_times, start - EPSILON_S)
    hi = bisect.bisect_left(frame_times, end - EPSILON_S)
    if hi > lo:
        return list(range(lo, hi))
    centre = (start + end) / 2
    nearest = min(
        (i for i in (lo - 1, lo) if 0 <= i < len(frame_times)),
        key=lambda i: abs(frame_times[i] - centre),
    )
    return [nearest]


def plan_batches(n_windows: int, windows_per_batch: int) -> list[tuple[int, int]]:
    """Split ``range(n_windows)`` into consecutive ``[first, end)`` batches."""
    if windows_per_batch < 1:
        raise ValueError("windows_per_batch must be at least 1")
    return [
        (first, min(first + windows_per_batch, n_windows))
        for first in range(0, n_windows, windows_per_batch)
    ]


def fit_frame_size(width: int, height: int, max_pixels: int, multiple: int = 2) -> tuple[int, int]:
    """Largest (w, h) with the same aspect, ``w*h <= max_pixels``, sides multiples of ``multiple``.

    Never upscales. Sides are at least ``multiple`` pixels.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    scale = min(1.0, (max_pixels / (width * height)) ** 0.5)
    w = max(multiple, int(width * scale) // multiple * multiple)
    h = max(multiple, int(height * scale) // multiple * multiple)
    return w, h

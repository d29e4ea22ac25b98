"""Windowing arithmetic: pure functions, times in seconds."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

from common.errors import InvalidInputError
from common.schemas import DEFAULT_MAX_WINDOWS_PER_VIDEO, WindowSpan

#: A tail shorter than this fraction of a window is merged into the previous window.
TAIL_MERGE_FRACTION = 0.5
#: Tolerance for float comparisons of times, seconds.
EPSILON_S = 1e-6


def _full_windows(duration: float, window: float, stride: float) -> int:
    """How many ``k`` satisfy ``k * stride + window <= duration + EPSILON_S`` (k = 0, 1, ...),
    computed arithmetically (never by counting)."""
    k = max(0, math.floor((duration + EPSILON_S - window) / stride) + 1)
    # The float division can be off by one either way; settle it with the exact test.
    while k > 0 and (k - 1) * stride + window > duration + EPSILON_S:
        k -= 1
    while k * stride + window <= duration + EPSILON_S:
        k += 1
    return k


def _check_spans(duration: float, window: float, stride: float) -> None:
    if duration <= 0:
        raise ValueError(f"duration must be positive, got {duration}")
    if window <= 0 or stride <= 0:
        raise ValueError(f"window and stride must be positive, got {window}, {stride}")
    if stride > window + EPSILON_S:
        raise ValueError(f"stride {stride} larger than window {window} leaves gaps")


def count_windows(duration: float, window: float, stride: float) -> int:
    """How many windows :func:`plan_windows` makes, in constant time and memory."""
    _check_spans(duration, window, stride)
    if duration <= window + EPSILON_S:
        return 1
    full = _full_windows(duration, window, stride)
    covered = (full - 1) * stride + window
    long_tail = duration - (full * stride) >= TAIL_MERGE_FRACTION * window
    return full + (1 if duration - covered > EPSILON_S and long_tail else 0)


def plan_windows(
    duration: float,
    window: float,
    stride: float,
    max_windows: int = DEFAULT_MAX_WINDOWS_PER_VIDEO,
    subject: str = "video",
) -> list[WindowSpan]:
    """Windows of ``window`` seconds every ``stride`` seconds covering ``[0, duration]``.

    - A video shorter than one window is one window ``[0, duration]``.
    - The tail: after the last full window, the part not yet covered becomes a shorter window
      starting at the next stride if it is at least half a window long; otherwise the last full
      window is stretched to the end of the video. Every instant is covered; no window is empty.
    - More than ``max_windows`` windows raise :class:`InvalidInputError` naming ``subject``
      before any window is built: a crafted spec or a huge duration cannot exhaust memory.
    """
    total = count_windows(duration, window, stride)
    if total > max_windows:
        raise InvalidInputError(
            subject,
            f"{total:,} windows of {window:g}s every {stride:g}s over {duration:g}s exceed the "
            f"limit of {max_windows:,} windows per video (SEGLOCATE_MAX_WINDOWS_PER_VIDEO); "
            "use a longer window or stride",
        )
    if duration <= window + EPSILON_S:
        return [WindowSpan(start=0.0, end=round(duration, 6))]
    starts = [k * stride for k in range(_full_windows(duration, window, stride))]
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

"""Decide which sampled frames need OCR: those whose on-screen text may have changed.

Pure logic on small grayscale thumbnails (numpy), no I/O. Each frame is reduced to a thumbnail
of about :data:`TARGET_CELLS` square cells of :data:`CELL_PIXELS` pixels (a 16:9 frame gives a
32x18 grid; at 720p a cell covers 40x40 frame pixels, about one line of slide text high).

A cell has *changed* when its mean absolute grey-level difference (0-255) from the reference
frame (the last frame sent to OCR) exceeds :data:`CHANGE_THRESHOLD`. A newly revealed bullet
line or a new slide changes some cells, so the frame is OCR'd.

Lecture recordings often carry a speaker-camera inset whose pixels differ in every frame, so an
exact-duplicate or whole-frame test would OCR every frame. Cells that changed from the *previous*
frame in at least :data:`VOLATILE_MIN_CHANGES` of the last :data:`VOLATILE_HISTORY` frames are
*volatile*; a cell volatile within the last :data:`VOLATILE_MEMORY` frames, and its eight
neighbours, are ignored. The memory keeps a talking head that pauses for a few seconds masked;
the neighbours cover the inset's border cells, which change only when the speaker leans their
way. A new slide or bullet elsewhere still changes unmasked cells.

When volatile cells cover more than :data:`FOOTAGE_FRACTION` of the frame, the video is mostly
moving footage (a camera on a whiteboard, a short-form clip with captions): the mask would hide
the text too, so a changed frame is OCR'd every :data:`FOOTAGE_INTERVAL` seconds instead.

Thresholds are tuned on 1 fps sampling: video coding noise on a still slide stays below 1 grey
level per cell, a revealed bullet line of 30 px text moves its cells by 10 or more.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from PIL import Image

#: Approximate number of grid cells a thumbnail is cut into.
TARGET_CELLS = 576
#: Side of one grid cell in thumbnail pixels.
CELL_PIXELS = 8
#: Mean absolute grey-level difference (0-255) above which a cell has changed since the
#: reference frame.
CHANGE_THRESHOLD = 4.0
#: Mean absolute difference (0-255) from the previous frame above which a cell counts as moving.
VOLATILE_THRESHOLD = 2.0
#: Number of recent frame-to-frame comparisons kept per cell.
VOLATILE_HISTORY = 8
#: Frame-to-frame changes, out of :data:`VOLATILE_HISTORY`, that make a cell volatile.
VOLATILE_MIN_CHANGES = 3
#: Frames a cell stays ignored after it was last volatile.
VOLATILE_MEMORY = 30
#: Volatile share of the frame (0-1) above which the frame is treated as moving footage.
FOOTAGE_FRACTION = 0.3
#: Seconds between OCRs of moving footage whose only changes are in volatile cells.
FOOTAGE_INTERVAL = 3.0


def grid_shape(width: int, height: int, target_cells: int = TARGET_CELLS) -> tuple[int, int]:
    """(rows, columns) of roughly square cells for a ``width`` x ``height`` frame (pixels)."""
    rows = max(1, round(math.sqrt(target_cells * height / max(width, 1))))
    columns = max(1, round(target_cells / rows))
    return rows, columns


def thumbnail(image: Image.Image, cell_pixels: int = CELL_PIXELS) -> np.ndarray:
    """Grayscale thumbnail (float32, 0-255) of shape (rows*cell, columns*cell) of ``image``.

    Box filtering averages every source pixel, so a thin new text line still shifts the cell mean.
    """
    rows, columns = grid_shape(*image.size)
    size = (columns * cell_pixels, rows * cell_pixels)
    gray = image.convert("L").resize(size, Image.Resampling.BOX)
    return np.asarray(gray, dtype=np.float32)


def cell_differences(a: np.ndarray, b: np.ndarray, cell_pixels: int = CELL_PIXELS) -> np.ndarray:
    """Mean absolute difference (0-255) of two same-shape thumbnails, per cell: (rows, columns)."""
    if a.shape != b.shape:
        raise ValueError(f"thumbnail shapes differ: {a.shape} vs {b.shape}")
    rows, columns = a.shape[0] // cell_pixels, a.shape[1] // cell_pixels
    diff = np.abs(a - b)[: rows * cell_pixels, : columns * cell_pixels]
    return diff.reshape(rows, cell_pixels, columns, cell_pixels).mean(axis=(1, 3))


def region_changed(
    reference: np.ndarray,
    current: np.ndarray,
    box: tuple[float, float, float, float],
    frame_size: tuple[int, int],
    threshold: float = CHANGE_THRESHOLD,
) -> bool:
    """Whether the pixels inside ``box`` differ between two thumbnails of the same video.

    ``box`` is (left, top, right, bottom) in frame pixels of a ``frame_size`` (width, height)
    frame. The region is cut into square blocks as tall as the box; it has changed when any
    block's mean absolute difference (0-255) exceeds ``threshold``, so one changed word in a
    long line counts.
    """
    if reference.shape != current.shape:
        return True
    scale_x = current.shape[1] / frame_size[0]
    scale_y = current.shape[0] / frame_size[1]
    left, right = max(0, int(box[0] * scale_x)), min(current.shape[1], math.ceil(box[2] * scale_x))
    top, bottom = max(0, int(box[1] * scale_y)), min(current.shape[0], math.ceil(box[3] * scale_y))
    if right <= left or bottom <= top:
        return False
    diff = np.abs(current[top:bottom, left:right] - reference[top:bottom, left:right])
    block = bottom - top
    starts = range(0, right - left, block)
    return any(float(diff[:, start : start + block].mean()) > threshold for start in starts)


def grow_mask(mask: np.ndarray) -> np.ndarray:
    """``mask`` grown by one cell in all eight directions (boolean, same shape)."""
    padded = np.pad(mask, 1)
    rows, columns = mask.shape
    grown = np.zeros_like(mask)
    for dr in range(3):
        for dc in range(3):
            grown |= padded[dr : dr + rows, dc : dc + columns]
    return grown


class TextChangeDetector:
    """Feed frames in time order; says which ones need OCR (see the module docstring).

    Parameters default to the module constants: ``change_threshold`` and ``volatile_threshold``
    (grey levels, 0-255), ``volatile_history``, ``volatile_min_changes`` and ``volatile_memory``
    (frames), ``footage_fraction`` (0-1), ``footage_interval`` (seconds), ``cell_pixels``.
    """

    def __init__(
        self,
        *,
        change_threshold: float = CHANGE_THRESHOLD,
        volatile_threshold: float = VOLATILE_THRESHOLD,
        volatile_history: int = VOLATILE_HISTORY,
        volatile_min_changes: int = VOLATILE_MIN_CHANGES,
        volatile_memory: int = VOLATILE_MEMORY,
        footage_fraction: float = FOOTAGE_FRACTION,
        footage_interval: float = FOOTAGE_INTERVAL,
        cell_pixels: int = CELL_PIXELS,
    ) -> None:
        self.change_threshold = change_threshold
        self.volatile_threshold = volatile_threshold
        self.volatile_min_changes = volatile_min_changes
        self.volatile_memory = volatile_memory
        self.footage_fraction = footage_fraction
        self.footage_interval = footage_interval
        self.cell_pixels = cell_pixels
        self._moves: deque[np.ndarray] = deque(maxlen=volatile_history)
        #: Frames since each cell was last volatile (large: never).
        self._volatile_age: np.ndarray | None = None
        self._previous: np.ndarray | None = None
        self._reference: np.ndarray | None = None
        self._reference_time = 0.0

    def ignored_cells(self) -> np.ndarray | None:
        """Boolean (rows, columns) mask of cells ignored as volatile; None before any frame.

        A cell is ignored while it was volatile within the last ``volatile_memory`` frames, and
        so are its eight neighbours: an inset's border cells only change when the speaker leans
        their way.
        """
        if self._volatile_age is None:
            return None
        return grow_mask(self._volatile_age < self.volatile_memory)

    def needs_ocr(self, thumb: np.ndarray, time: float) -> bool:
        """Whether the frame with thumbnail ``thumb`` (from :func:`thumbnail`) at ``time`` seconds
        needs OCR. A True answer makes this frame the reference for later frames.
        """
        if self._previous is None or self._reference is None or thumb.shape != self._previous.shape:
            self._moves.clear()
            rows, columns = thumb.shape[0] // self.cell_pixels, thumb.shape[1] // self.cell_pixels
            self._volatile_age = np.full((rows, columns), np.iinfo(np.int32).max // 2, np.int32)
            return self._take_reference(thumb, time)
        assert self._volatile_age is not None
        moved = cell_differences(thumb, self._previous, self.cell_pixels) > self.volatile_threshold
        self._moves.append(moved)
        self._previous = thumb
        volatile_now = np.sum(self._moves, axis=0) >= self.volatile_min_changes
        self._volatile_age = np.where(volatile_now, 0, self._volatile_age + 1)
        recently_volatile = self._volatile_age < self.volatile_memory
        ignored = grow_mask(recently_volatile)
        changed = cell_differences(thumb, self._reference, self.cell_pixels) > self.change_threshold
        footage = float(recently_volatile.mean()) > self.footage_fraction
        footage_due = footage and time - self._reference_time >= self.footage_interval
        if np.any(changed & ~ignored) or (footage_due and np.any(changed)):
            return self._take_reference(thumb, time)
        return False

    def _take_reference(self, thumb: np.ndarray, time: float) -> bool:
        self._previous = thumb
        self._reference = thumb
        self._reference_time = time
        return True

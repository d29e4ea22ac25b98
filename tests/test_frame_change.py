"""Which frames need OCR: synthetic 720p slides with a moving speaker inset (numpy, no OCR)."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from PIL import Image

from common.frame_change import (
    FOOTAGE_INTERVAL,
    TextChangeDetector,
    grid_shape,
    grow_mask,
    region_changed,
    thumbnail,
)

WIDTH, HEIGHT = 1280, 720
#: Speaker inset in the bottom-right corner: (left, top, width, height) in pixels.
INSET = (940, 520, 320, 180)


def blank_slide() -> np.ndarray:
    return np.full((HEIGHT, WIDTH, 3), 245, np.uint8)


def write_line(
    frame: np.ndarray, top: int, seed: int, left: int = 80, width: int = 700, height: int = 30
) -> np.ndarray:
    """Draw a text-like line: dark ink on about 30% of a ``width`` x ``height`` band."""
    ink = np.random.default_rng(seed).random((height, width)) < 0.3
    band = frame[top : top + height, left : left + width]
    band[ink] = 20
    return frame


def with_inset(frame: np.ndarray, t: int) -> np.ndarray:
    """Paste a speaker-camera inset whose head moves and whose sensor noise changes every frame."""
    left, top, width, height = INSET
    rng = np.random.default_rng(1000 + t)
    yy, xx = np.mgrid[0:height, 0:width]
    inset = np.empty((height, width, 3), np.float32)
    inset[...] = (60, 80, 100)
    cx, cy = width / 2 + 50 * np.sin(t * 1.3), height / 2 + 12 * np.sin(t * 2.1)
    inset[(xx - cx) ** 2 + (yy - cy) ** 2 < 50**2] = (220, 180, 150)
    inset += rng.normal(0, 6, inset.shape)
    out = frame.copy()
    out[top : top + height, left : left + width] = np.clip(inset, 0, 255).astype(np.uint8)
    return out


def thumb(frame: np.ndarray) -> np.ndarray:
    return thumbnail(Image.fromarray(frame))


def title_slide(seed: int = 1) -> np.ndarray:
    return write_line(blank_slide(), 50, seed, width=600, height=50)


def ocr_times(frames: list[np.ndarray], detector: TextChangeDetector | None = None) -> list[int]:
    """Indices (= seconds at 1 fps) of the frames the detector picks for OCR."""
    detector = detector or TextChangeDetector()
    return [t for t, frame in enumerate(frames) if detector.needs_ocr(thumb(frame), float(t))]


def test_first_frame_needs_ocr() -> None:
    assert ocr_times([title_slide()]) == [0]


def test_identical_frames_need_no_more_ocr() -> None:
    assert ocr_times([title_slide()] * 10) == [0]


def test_coding_noise_on_a_still_slide_does_not_trigger() -> None:
    rng = np.random.default_rng(7)
    slide = title_slide().astype(np.float32)
    frames = [
        np.clip(slide + rng.normal(0, 2, slide.shape), 0, 255).astype(np.uint8) for _ in range(15)
    ]
    assert ocr_times(frames) == [0]


def test_moving_inset_stops_triggering_once_seen_moving() -> None:
    slide = title_slide()
    times = ocr_times([with_inset(slide, t) for t in range(40)])
    assert times[0] == 0
    assert max(times) <= 3, times


def test_new_bullet_line_triggers_despite_moving_inset() -> None:
    slide = title_slide()
    with_bullet = write_line(slide.copy(), 170, seed=2)
    frames = [with_inset(slide, t) for t in range(12)] + [
        with_inset(with_bullet, t) for t in range(12, 20)
    ]
    assert [t for t in ocr_times(frames) if t > 3] == [12]


def test_bullet_next_to_the_inset_still_triggers() -> None:
    slide = title_slide()
    # A line ending just left of the inset's neighbouring cells, on the inset's rows.
    low_bullet = write_line(slide.copy(), 560, seed=3, left=80, width=780)
    frames = [with_inset(slide, t) for t in range(12)] + [
        with_inset(low_bullet, t) for t in range(12, 16)
    ]
    assert [t for t in ocr_times(frames) if t > 3] == [12]


def test_new_slide_triggers() -> None:
    first = write_line(title_slide(seed=1), 170, seed=2)
    second = write_line(title_slide(seed=5), 170, seed=6)
    frames = [with_inset(first, t) for t in range(10)] + [
        with_inset(second, t) for t in range(10, 15)
    ]
    assert [t for t in ocr_times(frames) if t > 3] == [10]


def test_one_changed_word_in_a_title_triggers() -> None:
    slide = title_slide()
    edited = write_line(slide.copy(), 50, seed=9, left=400, width=120, height=50)
    frames = [with_inset(slide, t) for t in range(10)] + [
        with_inset(edited, t) for t in range(10, 13)
    ]
    assert [t for t in ocr_times(frames) if t > 3] == [10]


def test_moving_footage_is_ocrd_every_footage_interval() -> None:
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8) for _ in range(30)]
    late = [t for t in ocr_times(frames) if t >= 10]
    assert late, "footage must still be read now and then"
    assert all(b - a == FOOTAGE_INTERVAL for a, b in pairwise(late))


def test_inset_cells_are_reported_as_ignored() -> None:
    detector = TextChangeDetector()
    slide = title_slide()
    for t in range(10):
        detector.needs_ocr(thumb(with_inset(slide, t)), float(t))
    ignored = detector.ignored_cells()
    assert ignored is not None
    rows, columns = ignored.shape
    assert ignored[rows - 2, columns - 2]  # inside the inset
    assert not ignored[1, 2]  # the title
    assert ignored.mean() < 0.25


def test_grid_cells_are_square_for_landscape_and_portrait() -> None:
    assert grid_shape(1280, 720) == (18, 32)
    assert grid_shape(720, 1280) == (32, 18)
    assert thumbnail(Image.new("RGB", (1920, 1080))).shape == (144, 256)


def test_region_changed_sees_one_new_word_in_a_long_line() -> None:
    line = write_line(blank_slide(), 170, seed=2, width=1000)
    edited = write_line(line.copy(), 170, seed=4, left=900, width=100)
    box = (80.0, 165.0, 1080.0, 205.0)
    assert region_changed(thumb(line), thumb(edited), box, (WIDTH, HEIGHT))
    assert not region_changed(thumb(line), thumb(line), box, (WIDTH, HEIGHT))


def test_region_changed_ignores_changes_outside_the_box() -> None:
    line = write_line(blank_slide(), 170, seed=2)
    below = write_line(line.copy(), 240, seed=3)
    box = (75.0, 165.0, 785.0, 205.0)
    assert not region_changed(thumb(line), thumb(below), box, (WIDTH, HEIGHT))


def test_grow_mask_adds_the_eight_neighbours() -> None:
    mask = np.zeros((5, 5), bool)
    mask[2, 2] = True
    grown = grow_mask(mask)
    assert grown.sum() == 9
    assert grown[1:4, 1:4].all()

"""Windowing arithmetic (pure)."""

import itertools
import time
import tracemalloc

import pytest

from common.errors import InvalidInputError
from common.schemas import DEFAULT_MAX_WINDOWS_PER_VIDEO
from common.windows import (
    count_windows,
    fit_frame_size,
    frames_in_window,
    plan_batches,
    plan_windows,
)


def spans(windows):
    return [(w.start, w.end) for w in windows]


def test_windows_tile_a_video_whose_length_is_a_multiple_of_the_window():
    assert spans(plan_windows(20.0, 5.0, 5.0)) == [(0, 5), (5, 10), (10, 15), (15, 20)]


def test_a_short_tail_stretches_the_last_window_to_the_end():
    assert spans(plan_windows(21.5, 5.0, 5.0))[-1] == (15.0, 21.5)
    assert len(plan_windows(21.5, 5.0, 5.0)) == 4


def test_a_long_tail_becomes_its_own_shorter_window():
    assert spans(plan_windows(23.0, 5.0, 5.0))[-2:] == [(15.0, 20.0), (20.0, 23.0)]


def test_every_instant_is_covered_for_many_durations():
    for tenths in range(1, 400):
        duration = tenths / 10
        for window, stride in ((5.0, 5.0), (5.0, 2.5), (3.0, 1.0)):
            windows = plan_windows(duration, window, stride)
            assert windows[0].start == 0.0
            assert windows[-1].end == pytest.approx(duration)
            for a, b in itertools.pairwise(windows):
                assert b.start <= a.end + 1e-9, (duration, window, stride)


def test_a_video_shorter_than_one_window_is_one_window_covering_it():
    assert spans(plan_windows(3.2, 5.0, 5.0)) == [(0.0, 3.2)]


def test_overlapping_windows_start_every_stride():
    assert [w.start for w in plan_windows(10.0, 5.0, 2.5)] == [0.0, 2.5, 5.0]


def test_stride_larger_than_window_is_refused():
    with pytest.raises(ValueError, match="stride"):
        plan_windows(10.0, 2.0, 3.0)


def test_frames_in_window_uses_half_open_spans():
    times = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert frames_in_window(times, 0.0, 5.0) == [0, 1, 2, 3, 4]
    assert frames_in_window(times, 5.0, 7.0) == [5, 6]


def test_a_window_without_a_frame_takes_the_nearest_one():
    times = [0.0, 1.0, 2.0]
    assert frames_in_window(times, 2.2, 2.6) == [2]


def test_frames_follow_real_timestamps_not_indices():
    vfr_times = [0.0, 0.4, 3.0, 3.5, 7.9]
    assert frames_in_window(vfr_times, 0.0, 5.0) == [0, 1, 2, 3]
    assert frames_in_window(vfr_times, 5.0, 10.0) == [4]


def test_batches_are_consecutive_and_cover_all_windows():
    assert plan_batches(35, 16) == [(0, 16), (16, 32), (32, 35)]
    assert plan_batches(0, 16) == []


def test_fit_frame_size_keeps_aspect_within_budget_and_never_upscales():
    w, h = fit_frame_size(1920, 1080, 1280 * 720)
    assert (w, h) == (1280, 720)
    assert fit_frame_size(640, 360, 1280 * 720) == (640, 360)
    w, h = fit_frame_size(7680, 4320, 448 * 448)
    assert w * h <= 448 * 448 and abs(w / h - 16 / 9) < 0.02


def test_count_windows_is_exactly_the_number_plan_windows_builds():
    for hundredths in range(1, 3000, 7):
        duration = hundredths / 100
        for window, stride in ((5.0, 5.0), (5.0, 2.5), (3.0, 1.0), (1.0, 1.0), (0.5, 0.5)):
            expected = len(plan_windows(duration, window, stride))
            assert count_windows(duration, window, stride) == expected, (duration, window, stride)


def test_too_many_windows_are_refused_naming_the_video_before_any_is_built():
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(InvalidInputError) as info:
        plan_windows(86_400.0, 1e-7, 1e-7, max_windows=1000, subject="lecture.mp4")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert str(info.value).startswith("lecture.mp4: 864,000,000,0")  # about 8.64e11 windows
    assert "limit of 1,000 windows per video (SEGLOCATE_MAX_WINDOWS_PER_VIDEO)" in str(info.value)
    assert peak < 1 << 20 and time.perf_counter() - started < 1.0


def test_the_window_limit_is_inclusive():
    assert len(plan_windows(20.0, 5.0, 5.0, max_windows=4)) == 4
    with pytest.raises(InvalidInputError, match="5 windows"):
        plan_windows(22.5, 5.0, 5.0, max_windows=4)


def test_plan_windows_is_bounded_by_default():
    # 400,000 windows of 10 ms: more than a 24-hour video at the smallest allowed window.
    started = time.perf_counter()
    with pytest.raises(InvalidInputError, match="400,000 windows"):
        plan_windows(4000.0, 0.01, 0.01)
    assert time.perf_counter() - started < 1.0


def test_the_default_window_limit_fits_a_24_hour_video_at_the_smallest_window():
    from common.schemas import MAX_FPS

    smallest = 1.0 / MAX_FPS
    windows = count_windows(24 * 3600.0, smallest, smallest)
    assert windows == DEFAULT_MAX_WINDOWS_PER_VIDEO == 172_800

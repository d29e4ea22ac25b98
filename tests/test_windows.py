"""Windowing arithmetic (pure)."""

import itertools

import pytest

from common.windows import fit_frame_size, frames_in_window, plan_batches, plan_windows


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

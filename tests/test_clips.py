"""Window scores -> clips (pure): merging, boundaries, suppression, top-k, ranking."""

import itertools

from common.schemas import Clip, WindowScore
from workers.clips import edge_probes, merge_windows, rank_clips, refine_clip, window_shares


def curve(scores, window=5.0, stride=None):
    stride = stride or window
    return [
        WindowScore(start=i * stride, end=i * stride + window, score=s)
        for i, s in enumerate(scores)
    ]


def test_adjacent_strong_windows_merge_into_one_clip_spanning_them():
    # A slide shown from 0:35 to 1:10 lights up windows 7..13.
    scores = [0] * 7 + [90, 92, 95, 91, 93, 90, 88] + [0] * 6
    clips = merge_windows(curve(scores), min_score=10, top_k=3)
    assert len(clips) == 1
    assert (clips[0].start, clips[0].end) == (35.0, 70.0)
    assert clips[0].score == 95


def test_a_weaker_neighbour_outside_the_margin_stays_out():
    clips = merge_windows(curve([20, 90, 85, 40, 0]), min_score=10, top_k=5)
    assert (clips[0].start, clips[0].end, clips[0].score) == (5.0, 15.0, 90)
    assert [(c.start, c.end) for c in clips[1:]] == [(15.0, 20.0), (0.0, 5.0)]


def test_clips_never_overlap_and_come_best_first():
    clips = merge_windows(curve([50, 80, 30, 70, 72, 10]), min_score=0, top_k=10)
    scores = [c.score for c in clips]
    assert scores == sorted(scores, reverse=True)
    ordered = sorted(clips, key=lambda c: c.start)
    for a, b in itertools.pairwise(ordered):
        assert a.end <= b.start


def test_top_k_limits_the_number_of_clips():
    clips = merge_windows(curve([60, 0, 70, 0, 80, 0, 90]), min_score=10, top_k=2)
    assert [c.score for c in clips] == [90, 80]


def test_windows_below_min_score_never_form_clips():
    assert merge_windows(curve([5, 8, 9.9]), min_score=10, top_k=5) == []


def test_overlapping_windows_give_boundaries_between_window_centres():
    # window 5 s, stride 2.5 s: windows 1 and 2 (2.5-7.5, 5-10) are strong.
    windows = curve([0, 90, 90, 0, 0], window=5.0, stride=2.5)
    clips = merge_windows(windows, min_score=10, top_k=1)
    assert (clips[0].start, clips[0].end) == (3.75, 8.75)


def test_window_shares_tile_the_timeline_without_overlap():
    shares = window_shares(curve([1, 2, 3, 4], window=5.0, stride=2.5))
    assert shares[0][0] == 0.0 and shares[-1][1] == 12.5
    for (_, end), (start, _) in itertools.pairwise(shares):
        assert end == start


def test_rank_clips_pools_videos_by_score_and_numbers_ranks():
    a = [
        Clip(video="a.mp4", start=0, end=5, score=70, rank=1),
        Clip(video="a.mp4", start=9, end=12, score=20, rank=2),
    ]
    b = [Clip(video="b.mp4", start=3, end=8, score=88, rank=1)]
    ranked = rank_clips([("a.mp4", a), ("b.mp4", b)], top_k=2)
    assert [(c.video, c.score, c.rank) for c in ranked] == [("b.mp4", 88, 1), ("a.mp4", 70, 2)]


def probe_curve(spans_scores):
    return [WindowScore(start=s, end=e, score=v) for (s, e), v in spans_scores]


def test_edge_probes_cover_the_first_and_last_window_of_each_clip_in_steps():
    windows = curve([0, 90, 95, 90, 0])
    clips = merge_windows(windows, min_score=10, top_k=1)
    probes = edge_probes(windows, clips, 1.0)
    assert probes == [(float(t), float(t + 1)) for t in [*range(5, 10), *range(15, 20)]]


def test_refining_trims_the_edges_to_where_the_evidence_starts_and_ends():
    # Slide shown 7-17 s: windows 5-10, 10-15, 15-20 are strong at window level.
    windows = curve([0, 100, 100, 100, 0])
    [clip] = merge_windows(windows, min_score=10, top_k=1)
    scores = {t: (100 if 7 <= t < 17 else 0) for t in range(5, 20)}
    probes = probe_curve([((t, t + 1), scores[t]) for t in [*range(5, 10), *range(15, 20)]])
    refined = refine_clip(clip, probes, windows, min_score=10)
    assert (refined.start, refined.end, refined.score) == (7.0, 17.0, 100)


def test_a_single_window_clip_keeps_the_strong_run_around_its_best_probe():
    windows = curve([0, 80, 0])
    [clip] = merge_windows(windows, min_score=10, top_k=1)
    probes = probe_curve([((5, 6), 0), ((6, 7), 70), ((7, 8), 80), ((8, 9), 75), ((9, 10), 5)])
    refined = refine_clip(clip, probes, windows, min_score=10)
    assert (refined.start, refined.end) == (6.0, 9.0)


def test_an_edge_without_strong_probes_stays_put():
    windows = curve([0, 60, 60, 0])
    [clip] = merge_windows(windows, min_score=10, top_k=1)
    probes = probe_curve([((t, t + 1), 20) for t in range(5, 15)])
    refined = refine_clip(clip, probes, windows, min_score=10)
    assert (refined.start, refined.end) == (clip.start, clip.end)

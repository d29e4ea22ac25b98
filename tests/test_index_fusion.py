"""Reciprocal-rank fusion and neighbour expansion (pure logic)."""

from __future__ import annotations

import pytest

from common.index.expansion import NEIGHBOUR, Candidate, expand_candidates
from common.index.fusion import reciprocal_rank_fusion


def test_rrf_scores_are_sums_of_reciprocal_ranks() -> None:
    fused = reciprocal_rank_fusion({"text": ["a", "b"], "vector": ["b", "c"]}, k=60)
    scores = {f.key: f.score for f in fused}
    assert scores["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert scores["a"] == pytest.approx(1 / 61)
    assert scores["c"] == pytest.approx(1 / 62)
    assert [f.key for f in fused] == ["b", "a", "c"]


def test_rrf_records_which_signals_ranked_each_key() -> None:
    fused = {
        f.key: f.signals for f in reciprocal_rank_fusion({"text": ["a"], "vector": ["a", "b"]})
    }
    assert fused == {"a": ("text", "vector"), "b": ("vector",)}


def test_rrf_ties_break_by_best_rank_then_signal_order() -> None:
    fused = reciprocal_rank_fusion({"text": ["a", "x"], "vector": ["b", "y"]})
    assert [f.key for f in fused] == ["a", "b", "x", "y"]


def test_rrf_counts_a_repeated_key_once_per_list_and_honours_weights() -> None:
    fused = reciprocal_rank_fusion({"text": ["a", "a", "b"]}, k=1)
    assert {f.key: f.score for f in fused} == {"a": 0.5, "b": pytest.approx(1 / 4)}
    weighted = reciprocal_rank_fusion({"t": ["a"], "v": ["b"]}, weights={"t": 0.5})
    assert [f.key for f in weighted] == ["b", "a"]


def test_rrf_of_nothing_is_empty() -> None:
    assert reciprocal_rank_fusion({}) == []
    assert reciprocal_rank_fusion({"text": []}) == []


def _c(video: str, window: int, score: float = 1.0, signals: tuple[str, ...] = ("text",)):
    return Candidate(video, window, score, signals)


def test_expansion_adds_neighbours_inside_the_video() -> None:
    out = expand_candidates([_c("v", 0), _c("v", 9)], {"v": 10}, budget=100, radius=1)
    assert [(c.window, c.signals) for c in out] == [
        (0, ("text",)),
        (1, (NEIGHBOUR,)),
        (9, ("text",)),
        (8, (NEIGHBOUR,)),
    ]


def test_expansion_budget_counts_every_window_best_candidates_first() -> None:
    recalled = [_c("a", 5, 0.9), _c("b", 5, 0.8), _c("c", 5, 0.7)]
    out = expand_candidates(recalled, {"a": 10, "b": 10, "c": 10}, budget=4, radius=1)
    assert [(c.video, c.window) for c in out] == [("a", 5), ("a", 4), ("a", 6), ("b", 5)]


def test_a_recalled_window_keeps_its_own_signals_when_it_is_also_a_neighbour() -> None:
    recalled = [_c("v", 3, 0.9, ("text",)), _c("v", 4, 0.5, ("vector:x",))]
    out = expand_candidates(recalled, {"v": 10}, budget=10, radius=1)
    by_window = {c.window: c for c in out}
    assert by_window[4].signals == ("vector:x",) and by_window[4].score == 0.5
    assert by_window[2].signals == (NEIGHBOUR,) and by_window[2].score == 0.9
    assert sorted(by_window) == [2, 3, 4, 5]


def test_expansion_radius_zero_and_bad_arguments() -> None:
    assert len(expand_candidates([_c("v", 3)], {"v": 10}, budget=5, radius=0)) == 1
    with pytest.raises(ValueError, match="at least 1"):
        expand_candidates([], {}, budget=0)
    with pytest.raises(ValueError, match="radius"):
        expand_candidates([], {}, budget=1, radius=-1)

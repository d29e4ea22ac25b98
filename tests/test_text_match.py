"""Matching a text query to OCR'd on-screen text: word forms, CJK, OCR noise, IDF, score range."""

from __future__ import annotations

import pytest

from common.text_match import (
    QueryMatcher,
    TextCollection,
    normalize,
    query_units,
    stem,
    text_match_score,
    word_similarity,
)

#: A mechanics lecture whose slides share their vocabulary ("Newton", "law", "force").
NEWTON_DECK = [
    ["Newton's Laws of Motion", "Three laws describe how bodies move"],
    ["Newton's First Law", "A body stays at rest unless a net force acts", "The law of inertia"],
    ["Newton's Second Law", "The net force equals mass times acceleration", "F = m a"],
    ["Newton's Third Law", "Every action has an equal and opposite reaction"],
    ["Newton's Law of Gravitation", "Every mass attracts every other mass"],
    ["Summary", "Newton's three laws of motion and the force of gravity"],
]


def deck_scores(query: str, deck: list[list[str]] = NEWTON_DECK) -> list[float]:
    matcher = QueryMatcher(query, TextCollection.from_lines(deck))
    return [matcher.score(i) for i in range(len(deck))]


def best_slide(query: str, deck: list[list[str]] = NEWTON_DECK) -> int:
    scores = deck_scores(query, deck)
    return max(range(len(scores)), key=scores.__getitem__)


# -- normalising and stemming ----------------------------------------------------------------


@pytest.mark.parametrize(
    "forms",
    [
        ("law", "laws"),
        ("accelerate", "accelerates", "accelerating", "accelerated", "acceleration"),
        ("study", "studies", "studied", "studying"),
        ("run", "running"),
        ("measure", "measured", "measuring", "measures"),
        ("box", "boxes"),
        ("gas", "gases"),
        ("process", "processes"),
    ],
)
def test_stem_merges_plurals_and_verb_forms(forms: tuple[str, ...]) -> None:
    assert len({stem(form) for form in forms}) == 1, {form: stem(form) for form in forms}


def test_stem_keeps_short_words_and_numbers() -> None:
    assert [stem(w) for w in ("is", "gas", "1869", "mp3")] == ["is", "gas", "1869", "mp3"]


def test_normalize_folds_case_full_width_and_accents() -> None:
    assert normalize("ＡＢＣ Café NAÏVE") == "abc cafe naive"


def test_query_units_are_stems_and_cjk_unigrams_and_bigrams() -> None:
    assert query_units("Newton's Laws") == ["newton", "law"]
    assert query_units("周期表") == ["周", "期", "表", "周期", "期表"]


# -- what a single text scores ---------------------------------------------------------------


def test_all_query_words_on_one_line_score_100() -> None:
    assert text_match_score("second law", ["Newton's Second Law", "F = m a"]) == pytest.approx(100)


def test_unrelated_text_scores_zero() -> None:
    assert text_match_score("photosynthesis", ["Newton's Second Law", "F = m a"]) == 0.0


def test_word_order_case_and_punctuation_do_not_matter() -> None:
    assert text_match_score("LAW, second -- Newton", ["Newton's second law."]) == pytest.approx(100)


def test_word_forms_match() -> None:
    assert text_match_score("accelerating bodies", ["Acceleration of a body"]) == pytest.approx(100)


def test_chinese_query_finds_its_title() -> None:
    assert text_match_score("元素周期表", ["元素周期表", "门捷列夫 1869"]) == pytest.approx(100)


def test_chinese_query_partly_found_in_a_related_slide() -> None:
    partial = text_match_score("元素周期表", ["化学元素的性质"])
    assert 0 < partial < 50


def test_chinese_text_does_not_match_other_characters() -> None:
    assert text_match_score("元素周期表", ["牛顿第二定律"]) == 0.0


def test_mixed_chinese_and_english_query() -> None:
    assert text_match_score("DNA 双螺旋", ["DNA 的双螺旋结构"]) == pytest.approx(100)


def test_ocr_misread_letters_keep_most_credit() -> None:
    score = text_match_score("acceleration", ["Acce1eratlon"])
    assert 80 < score < 100


def test_word_split_by_ocr_is_found() -> None:
    assert text_match_score("acceleration", ["accel eration"]) == pytest.approx(100)


def test_words_glued_by_ocr_get_partial_credit() -> None:
    assert 0 < text_match_score("momentum", ["conservationofmomentum"]) < 100


def test_short_words_need_an_exact_match() -> None:
    assert word_similarity("law", "low") == 0.0
    assert text_match_score("law", ["low"]) == 0.0


def test_numbers_match_exactly() -> None:
    assert text_match_score("1869", ["published in 1869"]) == pytest.approx(100)
    assert text_match_score("1869", ["published in 1868"]) == 0.0


def test_stopwords_weigh_almost_nothing() -> None:
    assert text_match_score("the force of gravity", ["Force and gravity"]) > 95
    assert text_match_score("the force of gravity", ["the theory of everything"]) < 5


def test_query_words_on_one_line_beat_the_same_words_on_separate_lines() -> None:
    together = text_match_score("net force", ["The net force", "Mass"])
    apart = text_match_score("net force", ["Net income", "Force"])
    assert together > apart > 50


def test_scores_stay_between_0_and_100() -> None:
    texts = [["a a a"], ["x"], ["元素周期表 元素周期表"], ["Force force FORCE forces"], [""]]
    collection = TextCollection.from_lines(texts)
    for query in ["force", "a", "元素", "the", "force force", "zzz"]:
        matcher = QueryMatcher(query, collection)
        assert all(0.0 <= matcher.score(i) <= 100.0 for i in range(len(texts)))


# -- IDF over the video's own texts ----------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "slide"),
    [
        ("Newton's first law", 1),
        ("Newton's second law", 2),
        ("Newton's third law", 3),
        ("law of gravitation", 4),
        ("inertia", 1),
        ("equal and opposite reaction", 3),
    ],
)
def test_right_slide_ranks_first_among_slides_sharing_vocabulary(query: str, slide: int) -> None:
    assert best_slide(query) == slide


def test_rare_word_outweighs_common_words() -> None:
    # "inertia" is on one slide; "Newton" and "law" are on nearly all of them.
    scores = deck_scores("Newton law inertia")
    assert scores[1] == max(scores)
    inertia_only = [["inertia"], *NEWTON_DECK[2:]]
    scores = deck_scores("Newton law inertia", inertia_only)
    assert scores[0] > max(scores[1:])


def test_text_matching_every_query_word_scores_100_whatever_the_video() -> None:
    assert deck_scores("Newton's third law")[3] == pytest.approx(100)
    assert text_match_score("Newton's third law", ["Newton's Third Law"]) == pytest.approx(100)

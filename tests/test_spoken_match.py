"""Matching a query against spoken words: numbers, names by ear, split words, and which signal
matched in a window (on-screen text, speech, or both)."""

from __future__ import annotations

import pytest

from common.number_words import digits_for_number_words
from common.scorers.base import LoadedQuery, WindowInput
from common.scorers.text import TextScorer
from common.sounds_like import sounds_alike
from common.speech.transcript import Segment, SpokenWord, Transcript
from common.text_match import PHONETIC_CREDIT, QueryMatcher, TextCollection, analyze_line
from common.window_text import Signal, match_window_text, signal_of, video_text_collection

# -- number words ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spoken", "digits"),
    [
        ("three", ["3"]),
        ("twenty one", ["21"]),
        ("nineteen oh five", ["1905"]),
        ("nineteen o five", ["1905"]),
        ("nineteen hundred and five", ["1905"]),
        ("eighteen sixty nine", ["1869"]),
        ("twenty twenty four", ["2024"]),
        ("two thousand and five", ["2005"]),
        ("one hundred and twenty three", ["123"]),
        ("three hundred thousand", ["300000"]),
        ("chapter four", ["chapter", "4"]),
        ("a hundred and fifty", ["a", "150"]),
    ],
)
def test_number_words_become_digits(spoken: str, digits: list[str]) -> None:
    assert digits_for_number_words(spoken.split()) == digits


def test_digits_read_one_by_one_stay_separate_numbers() -> None:
    assert digits_for_number_words(["three", "four", "five"]) == ["3", "4", "5"]


def test_words_that_only_sometimes_mean_numbers_stay_words() -> None:
    assert digits_for_number_words(["oh", "and", "then"]) == ["oh", "and", "then"]
    assert digits_for_number_words(["seven", "oh", "five"]) == ["7", "oh", "5"]


def test_a_spoken_year_matches_a_typed_year_and_back() -> None:
    heard = [analyze_line("In nineteen oh five Einstein published special relativity")]
    assert QueryMatcher("1905", TextCollection.from_lines([["x"]])).score_document((), heard) == (
        pytest.approx(100)
    )
    seen = [analyze_line("Annus mirabilis: 1905")]
    matcher = QueryMatcher("nineteen hundred and five", TextCollection.from_lines([["x"]]))
    assert matcher.score_lines(seen) == pytest.approx(100)


def test_small_numbers_match_as_words_or_digits() -> None:
    matcher = QueryMatcher("three laws", TextCollection.from_lines([["x"]]))
    assert matcher.score_lines([analyze_line("The 3 laws of motion")]) == pytest.approx(100)


def test_a_different_year_does_not_match() -> None:
    heard = [analyze_line("in nineteen oh six")]
    assert QueryMatcher("1905", TextCollection.from_lines([["x"]])).score_document((), heard) == 0


# -- names spelled by ear ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "heard"),
    [
        ("feynman", "fineman"),
        ("tchaikovsky", "chaikovsky"),
        ("boltzmann", "bolsman"),
        ("leibniz", "libnitz"),
        ("archimedes", "arkimedes"),
    ],
)
def test_names_heard_differently_sound_alike(name: str, heard: str) -> None:
    assert sounds_alike(name, heard)


@pytest.mark.parametrize(
    ("a", "b"), [("force", "photos"), ("energy", "enemy"), ("cell", "sale"), ("light", "late")]
)
def test_different_words_do_not_sound_alike(a: str, b: str) -> None:
    assert not sounds_alike(a, b)


def test_a_name_spelled_by_ear_earns_phonetic_credit_in_speech_only() -> None:
    matcher = QueryMatcher("Feynman", TextCollection.from_lines([["x"]]))
    line = analyze_line("Richard Fineman liked simple drawings")
    heard = matcher.score_document((), [line])
    assert heard == pytest.approx(100 * PHONETIC_CREDIT)
    assert matcher.score_lines([line]) == 0.0  # OCR errors are visual, not phonetic


def test_a_word_the_recogniser_split_in_two_is_found() -> None:
    matcher = QueryMatcher("photosynthesis", TextCollection.from_lines([["x"]]))
    assert matcher.score_document((), [analyze_line("photo synthesis turns light")]) == (
        pytest.approx(100)
    )


def test_a_misheard_letter_keeps_most_credit() -> None:
    matcher = QueryMatcher("Mendeleev", TextCollection.from_lines([["x"]]))
    assert 80 < matcher.score_document((), [analyze_line("Dmitri Mendeleyev")]) < 100


# -- a window's document and its signal ------------------------------------------------------

#: A lecture whose slides show generic titles while the teacher says the content.
SLIDES = [["Part 1", "Introduction"], ["Part 2", "Vaccines"], ["Part 3", "Summary"]]
SPOKEN = [
    "Welcome to the course.",
    "Vaccines train the immune system to recognise a virus.",
    "In nineteen oh five Einstein published special relativity.",
]


def matcher_for(query: str) -> QueryMatcher:
    return QueryMatcher(query, video_text_collection(SLIDES, SPOKEN))


def test_a_window_matched_only_by_speech_says_speech() -> None:
    match = match_window_text(matcher_for("special relativity"), [SLIDES[0]], [SPOKEN[2]])
    assert match.signal is Signal.speech
    assert match.ocr == 0.0
    assert match.score == pytest.approx(100)


def test_a_window_matched_only_on_screen_says_ocr() -> None:
    match = match_window_text(matcher_for("introduction"), [SLIDES[0]], [SPOKEN[2]])
    assert match.signal is Signal.ocr
    assert match.speech == 0.0


def test_a_window_matched_by_slide_and_voice_says_both() -> None:
    match = match_window_text(matcher_for("vaccines"), [SLIDES[1]], [SPOKEN[1]])
    assert match.signal is Signal.both
    assert match.score == pytest.approx(100)


def test_query_words_half_on_screen_half_spoken_score_as_one_document() -> None:
    match = match_window_text(matcher_for("vaccines immune"), [SLIDES[1]], ["the immune system"])
    assert match.score > 90  # all query words, though on no single line
    assert match.ocr < 60 and match.speech < 60
    assert match.signal is Signal.both


def test_a_window_with_no_match_has_no_signal() -> None:
    match = match_window_text(matcher_for("photosynthesis"), [SLIDES[2]], [SPOKEN[0]])
    assert match.score == 0.0 and match.signal is None


def test_without_speech_a_window_scores_as_the_ocr_scorer_does() -> None:
    collection = TextCollection.from_lines(SLIDES)
    matcher = QueryMatcher("part 2 vaccines", collection)
    assert video_text_collection(SLIDES, []).document_frequency == collection.document_frequency
    match = match_window_text(matcher, [SLIDES[0], SLIDES[1]], [])
    assert match.score == max(matcher.score(0), matcher.score(1))
    assert match.signal is Signal.ocr


def test_signal_rule() -> None:
    assert signal_of(0.0, 0.0, 0.0) is None
    assert signal_of(100.0, 100.0, 20.0) is Signal.ocr
    assert signal_of(100.0, 20.0, 100.0) is Signal.speech
    assert signal_of(100.0, 60.0, 55.0) is Signal.both


# -- the OCR scorer with a transcript (features as extract_features writes them) -------------

#: 12 frames at 1 fps: "Part 1" on frames 0-5, "Part 2 / Vaccines" on 6-11.
OCR_FEATURES = {
    "version": 1,
    "frames_total": 12,
    "ocr_frames": [0, 6],
    "lines_recognised": 3,
    "runs": [[0, 5, 0], [6, 11, 1]],
    "texts": [["Part 1", "Introduction"], ["Part 2", "Vaccines"]],
}
#: Three 4 s windows over the 12 frames.
WINDOWS = [
    WindowInput(start=float(s), end=float(s + 4), frame_indices=list(range(s, s + 4)))
    for s in (0, 4, 8)
]


def spoken(text: str, start: float) -> Segment:
    words = [
        SpokenWord(start=start + 0.4 * i, end=start + 0.4 * i + 0.35, text=w, probability=0.9)
        for i, w in enumerate(text.split())
    ]
    return Segment(start=start, end=words[-1].end, text=text, probability=0.9, words=words)


LECTURE_SPEECH = Transcript(
    model="tiny.en",
    segments=[
        spoken("Einstein published special relativity in nineteen oh five.", 0.5),
        spoken("Vaccines teach the immune system.", 8.5),
    ],
)


@pytest.fixture(scope="module")
def ocr_scorer() -> TextScorer:
    return TextScorer()


def test_the_ocr_scorer_finds_a_window_by_its_spoken_words(ocr_scorer: TextScorer) -> None:
    matches = ocr_scorer.match_windows(
        LoadedQuery(text="relativity 1905"), WINDOWS, OCR_FEATURES, LECTURE_SPEECH
    )
    assert [m.signal for m in matches] == [Signal.speech, None, None]
    assert matches[0].score == pytest.approx(100)


def test_the_ocr_scorer_says_both_signals_matched(ocr_scorer: TextScorer) -> None:
    matches = ocr_scorer.match_windows(
        LoadedQuery(text="vaccines"), WINDOWS, OCR_FEATURES, LECTURE_SPEECH
    )
    assert [m.signal for m in matches] == [None, Signal.ocr, Signal.both]


def test_without_a_transcript_match_windows_scores_as_score_windows(
    ocr_scorer: TextScorer,
) -> None:
    for text in ("vaccines", "part 1 introduction", "part"):
        query = LoadedQuery(text=text)
        plain = ocr_scorer.score_windows(query, WINDOWS, OCR_FEATURES)
        for transcript in (None, Transcript(model="tiny.en")):
            matches = ocr_scorer.match_windows(query, WINDOWS, OCR_FEATURES, transcript)
            assert [m.score for m in matches] == pytest.approx(plain)

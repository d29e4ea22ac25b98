"""A window's text document: what is read on screen and what is spoken in it. Pure logic.

The text scorer matches a query against both signals at once (:func:`match_window_text`) and
says which one matched (:class:`Signal`): a lecture slide may only say "Part 3" while the
teacher explains vaccines, and a short-form clip may have no text on screen at all.

IDF weights (rare words count more) come from one :class:`~common.text_match.TextCollection`
over the video's distinct on-screen texts and its spoken sentences
(:func:`video_text_collection`); a video without speech gets exactly the on-screen collection,
so OCR-only scores are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from common.scorers.base import WindowMatch
from common.text_match import QueryMatcher, TextCollection, analyze_line

#: A signal "matched" when its own score reaches this share of the window's score (0-1).
MATCHED_SHARE = 0.4


class Signal(StrEnum):
    """Which part of a window's document matched the query."""

    ocr = "ocr"  #: text read on screen
    speech = "speech"  #: words spoken in the window
    both = "both"  #: each of them, on its own, reached :data:`MATCHED_SHARE` of the score


@dataclass(frozen=True)
class TextMatch(WindowMatch):
    """How well one window's text matches the query, and where the match came from.

    ``score`` (0-100) scores on-screen text and spoken words as one document; ``signal`` is
    a :class:`Signal` (None when nothing matched)."""

    ocr: float = 0.0  #: 0-100: the best on-screen text alone
    speech: float = 0.0  #: 0-100: the spoken words alone


def video_text_collection(
    on_screen: Sequence[Sequence[str]], spoken_sentences: Sequence[str]
) -> TextCollection:
    """IDF source for one video: each distinct on-screen text (its lines) and each spoken
    sentence is one document."""
    return TextCollection.from_lines([*on_screen, *([sentence] for sentence in spoken_sentences)])


def signal_of(score: float, ocr: float, speech: float) -> Signal | None:
    """Which signals matched: those whose own score is at least ``MATCHED_SHARE * score``."""
    if score <= 0.0:
        return None
    threshold = MATCHED_SHARE * score
    seen, heard = ocr > 0.0 and ocr >= threshold, speech > 0.0 and speech >= threshold
    if seen and heard:
        return Signal.both
    if heard:
        return Signal.speech
    if seen:
        return Signal.ocr
    # Neither alone reaches half: the match needs both halves of the document.
    return Signal.both


def match_window_text(
    matcher: QueryMatcher, on_screen: Sequence[Sequence[str]], spoken: Sequence[str]
) -> TextMatch:
    """Score a window whose frames show the texts ``on_screen`` (each a list of lines) and in
    which the sentences (or parts of sentences) ``spoken`` were said.

    The window scores its best on-screen text together with everything spoken in it
    (the query's words may be half on the slide, half in the teacher's words); with no
    speech this is exactly the OCR scorer's score.
    """
    heard = [analyze_line(line) for line in spoken if line.strip()]
    seen_texts = [[analyze_line(line) for line in text] for text in on_screen if text]
    ocr = max((matcher.score_lines(lines) for lines in seen_texts), default=0.0)
    speech = matcher.score_document((), heard)
    score = max(
        (matcher.score_document(lines, heard) for lines in seen_texts),
        default=speech,
    )
    return TextMatch(score=score, signal=signal_of(score, ocr, speech), ocr=ocr, speech=speech)


def spoken_relevance(matcher: QueryMatcher) -> Callable[[str], float]:
    """A spoken sentence's text -> how well it matches the matcher's query (0-100): the
    ``relevance`` that :func:`common.speech.boundaries.snap_to_speech` takes."""
    return lambda sentence: matcher.score_document((), [analyze_line(sentence)])

"""Clip ends that follow speech: a clip found by what was said starts at the first word of the
sentence that said it and ends at its last word, not on window edges. Pure logic.

Windows are seconds long and cut sentences anywhere; the transcript knows where each sentence
begins and ends to a fraction of a second. :func:`snap_to_speech` moves a clip's two ends to
the sentences inside it that match the query (or to every sentence it overlaps, without a
``relevance`` function), keeping :data:`SPEECH_MARGIN` of air on each side.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from common.speech.transcript import SpokenWord, join_words

#: Seconds kept before a sentence's first word and after its last.
SPEECH_MARGIN = 0.25
#: Most seconds an end may move outwards to take in the rest of a sentence.
MAX_GROWTH = 10.0
#: A sentence matches when its relevance is at least this share of the best sentence's (0-1).
RELEVANT_SHARE = 0.5
#: ... and at least this much (0-100): an incidental stopword is not a match.
MIN_RELEVANCE = 10.0


def sentences_in(
    start: float, end: float, sentences: Sequence[Sequence[SpokenWord]]
) -> list[Sequence[SpokenWord]]:
    """The sentences with at least one word whose middle lies in ``[start, end]`` seconds."""
    return [s for s in sentences if s and any(start <= w.middle <= end for w in s)]


def snap_to_speech(
    start: float,
    end: float,
    sentences: Sequence[Sequence[SpokenWord]],
    relevance: Callable[[str], float] | None = None,
    duration: float | None = None,
) -> tuple[float, float]:
    """New (start, end) seconds for a clip that matched speech; the clip unchanged when no
    sentence inside it matches.

    ``sentences``: the transcript's sentences as words (:meth:`Transcript.sentences`).
    ``relevance``: a sentence's text -> how well it matches the query (0-100); the clip then
    spans the first to the last sentence that reaches :data:`RELEVANT_SHARE` of the best and
    :data:`MIN_RELEVANCE`. Each end moves to its sentence's word (with :data:`SPEECH_MARGIN`),
    inwards freely and outwards by at most :data:`MAX_GROWTH`; ``duration`` (seconds) caps the end.
    """
    inside = sentences_in(start, end, sentences)
    if relevance is not None and inside:
        scores = [relevance(join_words(sentence)) for sentence in inside]
        best = max(scores)
        bar = max(MIN_RELEVANCE, RELEVANT_SHARE * best)
        inside = [s for s, score in zip(inside, scores, strict=True) if score >= bar]
    if not inside:
        return start, end
    new_start = max(0.0, start - MAX_GROWTH, inside[0][0].start - SPEECH_MARGIN)
    new_end = min(end + MAX_GROWTH, inside[-1][-1].end + SPEECH_MARGIN)
    if duration is not None:
        new_end = min(new_end, duration)
    if new_end <= new_start:
        return start, end
    return round(new_start, 3), round(new_end, 3)

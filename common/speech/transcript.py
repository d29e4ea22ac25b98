"""What was said in a video, and when: the :class:`Transcript` stored once per video content.

Times are seconds from the start of the video; probabilities are 0-1. A transcript is
segments (as the recogniser cut them) of words; each word knows its own start and end, so a
window ``[start, end)`` of the video can ask which words were spoken inside it.

A video without an audio stream, or whose audio holds no speech, has an empty transcript
(no segments) and ``audio`` says which; that is a valid answer, not an error.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from enum import StrEnum
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Version of the transcript JSON layout; bump on any incompatible change.
TRANSCRIPT_SCHEMA_VERSION = 1
#: Characters that end a sentence in a recogniser's punctuated text.
SENTENCE_END = (".", "?", "!", "。", "？", "！")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AudioPresence(StrEnum):
    """What the video's audio held."""

    none = "none"  #: no audio stream: nothing to transcribe
    silent = "silent"  #: an audio stream with no speech the voice filter kept
    speech = "speech"  #: speech was found and transcribed


class SpokenWord(_Model):
    """One recognised word."""

    start: float = Field(ge=0.0)  #: seconds
    end: float = Field(ge=0.0)  #: seconds
    #: As recognised, without surrounding spaces; may carry punctuation ("vaccination.").
    text: str
    probability: float = Field(ge=0.0, le=1.0)  #: recogniser confidence, 0-1

    @property
    def middle(self) -> float:
        """Seconds at the middle of the word: the instant that places it in one window."""
        return (self.start + self.end) / 2.0

    @property
    def ends_sentence(self) -> bool:
        """True if the word closes a sentence (ends with ``.``, ``?`` or ``!``)."""
        return self.text.rstrip("\"')]}»”’").endswith(SENTENCE_END)


class Segment(_Model):
    """A stretch of speech as the recogniser cut it (about a sentence, or up to 30 s)."""

    start: float = Field(ge=0.0)  #: seconds
    end: float = Field(ge=0.0)  #: seconds
    text: str
    #: Mean per-token probability of the segment's text, 0-1 (exp of the average log-prob).
    probability: float = Field(ge=0.0, le=1.0)
    words: list[SpokenWord] = Field(default_factory=list)


class Transcript(_Model):
    """Every word spoken in one video, with times; the JSON stored in the work bucket."""

    schema_version: int = TRANSCRIPT_SCHEMA_VERSION
    #: Model that produced it: a size name, a hub id, or a name for a bundled model.
    model: str
    #: ISO 639-1 language code of the speech ("en"); None when nothing was heard.
    language: str | None = None
    #: Confidence of the language detection, 0-1 (1 when the model is English-only).
    language_probability: float | None = Field(default=None, ge=0.0, le=1.0)
    #: True for an English-only model: it transcribed English and detected no language.
    english_only: bool = False
    #: One line for people about how it was made (e.g. "English-only model ...").
    note: str = ""
    audio: AudioPresence = AudioPresence.speech
    #: Seconds of audio decoded (0 without an audio stream).
    duration: float = Field(default=0.0, ge=0.0)
    segments: list[Segment] = Field(default_factory=list)

    @model_validator(mode="after")
    def _segments_in_order(self) -> Transcript:
        starts = [segment.start for segment in self.segments]
        if starts != sorted(starts):
            raise ValueError("transcript segments must be in time order")
        return self

    @cached_property
    def words(self) -> list[SpokenWord]:
        """Every word, in time order (of their middles: what :meth:`words_between` bisects)."""
        words = [word for segment in self.segments for word in segment.words]
        return sorted(words, key=lambda word: word.middle)

    @cached_property
    def _middles(self) -> list[float]:
        return [word.middle for word in self.words]

    @property
    def empty(self) -> bool:
        """True when no word was recognised (no audio, silence, or nothing intelligible)."""
        return not self.words

    def words_between(self, start: float, end: float) -> list[SpokenWord]:
        """Words spoken in ``[start, end)`` seconds: those whose middle lies in it.

        Placing a word by its middle puts it in exactly one window of windows that tile the
        video, however it straddles their edge.
        """
        first = bisect_left(self._middles, start)
        last = bisect_left(self._middles, end)
        return self.words[first:last]

    def text_between(self, start: float, end: float) -> str:
        """The text spoken in ``[start, end)`` seconds, words joined by spaces ("" if none)."""
        return join_words(self.words_between(start, end))

    def sentences_between(self, start: float, end: float) -> list[str]:
        """The spoken text in ``[start, end)`` cut into sentences (one string each), in order.

        Sentences end at a word with final punctuation or at a segment's end; the first and last
        may be parts of sentences that began before ``start`` or go on after ``end``.
        """
        return [
            join_words(sentence) for sentence in split_sentences(self.words_between(start, end))
        ]

    def sentence_texts(self) -> list[str]:
        """Every sentence as a line of text (the spoken documents of a video, for IDF)."""
        return [join_words(sentence) for sentence in self.sentences()]

    def sentences(self) -> list[list[SpokenWord]]:
        """Every sentence of the transcript as its words (see :func:`split_sentences`)."""
        return [
            sentence for segment in self.segments for sentence in split_sentences(segment.words)
        ]


def join_words(words: Sequence[SpokenWord]) -> str:
    """Words as one line of text separated by single spaces."""
    return " ".join(word.text.strip() for word in words if word.text.strip())


def split_sentences(words: Sequence[SpokenWord]) -> list[list[SpokenWord]]:
    """Cut a run of words after each word that ends a sentence; the rest forms the last one."""
    sentences: list[list[SpokenWord]] = []
    current: list[SpokenWord] = []
    for word in words:
        current.append(word)
        if word.ends_sentence:
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    return sentences

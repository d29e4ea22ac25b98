"""The Transcript model, subtitles from it (checked by real WebVTT and SRT parsers), and clip
boundaries that follow speech. Pure: transcripts are built by hand here."""

from __future__ import annotations

import html
import io
import itertools
from collections.abc import Callable

import pytest
import srt
import webvtt
from pydantic import ValidationError

from common.speech.boundaries import SPEECH_MARGIN, snap_to_speech
from common.speech.subtitles import format_transcript, subtitle_cues, to_srt, to_vtt
from common.speech.transcript import Segment, SpokenWord, Transcript
from common.text_match import QueryMatcher
from common.window_text import spoken_relevance, video_text_collection


def words(text: str, start: float, seconds_per_word: float = 0.4) -> list[SpokenWord]:
    """Words of ``text`` spoken one after another from ``start`` seconds."""
    return [
        SpokenWord(
            start=round(start + i * seconds_per_word, 3),
            end=round(start + (i + 1) * seconds_per_word - 0.05, 3),
            text=word,
            probability=0.9,
        )
        for i, word in enumerate(text.split())
    ]


def segment(text: str, start: float) -> Segment:
    spoken = words(text, start)
    return Segment(
        start=spoken[0].start, end=spoken[-1].end, text=text, probability=0.8, words=spoken
    )


#: Four sentences: 2-4.35 s; 6-7.95 s and 8-10.35 s (one segment); 20-23.55 s.
TRANSCRIPT = Transcript(
    model="tiny.en",
    language="en",
    language_probability=1.0,
    english_only=True,
    duration=30.0,
    segments=[
        segment("Welcome to the course on immunology.", 2.0),
        segment("Vaccines train the immune system. They show it a harmless virus.", 6.0),
        segment("Bring a calculator & a pen <please> on Friday.", 20.0),
    ],
)


# -- the model -------------------------------------------------------------------------------


def test_words_between_takes_words_whose_middle_is_inside() -> None:
    got = [w.text for w in TRANSCRIPT.words_between(2.0, 3.0)]
    assert got == ["Welcome", "to", "the"]  # "course" (3.2-3.55) is outside


def test_windows_that_tile_the_video_share_out_every_word_once() -> None:
    tiled = [w for t in range(0, 30, 5) for w in TRANSCRIPT.words_between(t, t + 5)]
    assert tiled == TRANSCRIPT.words


def test_text_between_joins_the_words() -> None:
    assert TRANSCRIPT.text_between(6.0, 8.0) == "Vaccines train the immune system."
    assert TRANSCRIPT.text_between(25.0, 30.0) == ""


def test_sentences_split_at_final_punctuation_inside_segments() -> None:
    sentences = [" ".join(w.text for w in s) for s in TRANSCRIPT.sentences()]
    assert sentences[1:3] == ["Vaccines train the immune system.", "They show it a harmless virus."]
    assert len(sentences) == 4


def test_round_trips_through_json() -> None:
    again = Transcript.model_validate_json(TRANSCRIPT.model_dump_json())
    assert again == TRANSCRIPT
    assert again.text_between(6.0, 8.0) == "Vaccines train the immune system."


def test_segments_out_of_order_are_refused() -> None:
    with pytest.raises(ValidationError):
        Transcript(model="m", segments=[segment("later", 5.0), segment("earlier", 1.0)])


def test_an_empty_transcript_is_valid() -> None:
    empty = Transcript(model="m", audio="none")
    assert empty.empty and empty.words_between(0, 100) == [] and subtitle_cues(empty) == []


# -- subtitles -------------------------------------------------------------------------------


def test_vtt_parses_with_a_real_webvtt_parser_and_keeps_text_and_times() -> None:
    captions = webvtt.from_string(to_vtt(TRANSCRIPT)).captions
    # Cue text is escaped as the spec asks ("&amp;", "&lt;"): unescaped, it is the words again.
    assert "&amp; a pen &lt;please&gt;" in captions[-1].text
    assert [html.unescape(c.text.replace("\n", " ")) for c in captions] == [
        "Welcome to the course on immunology.",
        "Vaccines train the immune system.",
        "They show it a harmless virus.",
        "Bring a calculator & a pen <please> on Friday.",
    ]
    assert captions[0].start_in_seconds == 2 and captions[1].start_in_seconds == 6
    assert captions[-1].end == "00:00:23.550"


def test_srt_parses_with_a_real_srt_parser() -> None:
    subtitles = list(srt.parse(to_srt(TRANSCRIPT)))
    assert [s.index for s in subtitles] == [1, 2, 3, 4]
    assert subtitles[1].start.total_seconds() == 6.0
    assert subtitles[1].content == "Vaccines train the immune system."
    assert "<please>" in subtitles[3].content


def test_long_sentences_are_cut_into_cues_of_at_most_six_seconds_and_two_lines() -> None:
    long = Transcript(model="m", segments=[segment(" ".join(["word"] * 40) + ".", 0.0)])
    cues = subtitle_cues(long)
    assert len(cues) > 1
    assert all(c.end - c.start <= 6.0 and len(c.lines) <= 2 for c in cues)
    assert all(a.end <= b.start for a, b in itertools.pairwise(cues))
    assert len(list(webvtt.from_buffer(io.StringIO(to_vtt(long))).captions)) == len(cues)


def test_format_transcript_json_is_the_transcript() -> None:
    assert Transcript.model_validate_json(format_transcript(TRANSCRIPT, "json")) == TRANSCRIPT
    with pytest.raises(ValueError, match="vtt, srt, json"):
        format_transcript(TRANSCRIPT, "docx")


# -- clip boundaries that follow speech --------------------------------------------------------


def test_a_clip_snaps_to_its_sentence_first_and_last_word() -> None:
    # Windows 5-10 s matched "vaccines": the sentence is 6.0-7.95 s.
    relevance = sentence_relevance("vaccines immune system")
    start, end = snap_to_speech(5.0, 10.0, TRANSCRIPT.sentences(), relevance)
    assert start == pytest.approx(6.0 - SPEECH_MARGIN)
    assert end == pytest.approx(7.95 + SPEECH_MARGIN)


def test_a_clip_grows_to_take_in_a_sentence_cut_by_a_window_edge() -> None:
    relevance = sentence_relevance("harmless virus")
    start, end = snap_to_speech(5.0, 9.0, TRANSCRIPT.sentences(), relevance)
    assert start == pytest.approx(8.0 - SPEECH_MARGIN)
    assert end == pytest.approx(10.35 + SPEECH_MARGIN)


def test_without_relevance_a_clip_spans_every_sentence_it_overlaps() -> None:
    start, end = snap_to_speech(5.0, 10.0, TRANSCRIPT.sentences())
    assert (start, end) == pytest.approx((6.0 - SPEECH_MARGIN, 10.35 + SPEECH_MARGIN))


def test_a_clip_without_a_matching_sentence_is_unchanged() -> None:
    relevance = sentence_relevance("photosynthesis")
    assert snap_to_speech(5.0, 10.0, TRANSCRIPT.sentences(), relevance) == (5.0, 10.0)
    assert snap_to_speech(12.0, 18.0, TRANSCRIPT.sentences()) == (12.0, 18.0)


def test_the_end_never_passes_the_video() -> None:
    _, end = snap_to_speech(20.0, 25.0, TRANSCRIPT.sentences(), duration=23.0)
    assert end == 23.0


def sentence_relevance(query: str) -> Callable[[str], float]:
    """Sentence text -> 0-100 with the spoken-word matcher (IDF over the sentences)."""
    collection = video_text_collection([], TRANSCRIPT.sentence_texts())
    return spoken_relevance(QueryMatcher(query, collection))

"""Subtitles from a transcript: WebVTT, SRT, or the transcript's JSON. Pure logic, no I/O.

Cues follow sentences; a sentence longer than :data:`MAX_CUE_SECONDS` or
:data:`MAX_CUE_CHARS` is cut between words, and cue text is wrapped at :data:`LINE_CHARS`
characters per line (two lines at most for a full cue), as subtitle guidelines ask.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from common.speech.transcript import SpokenWord, Transcript, join_words

#: Longest cue on screen, seconds.
MAX_CUE_SECONDS = 6.0
#: Most characters in one cue (two lines of :data:`LINE_CHARS`).
MAX_CUE_CHARS = 84
#: Characters per subtitle line.
LINE_CHARS = 42
#: Formats :func:`format_transcript` writes.
FORMATS = ("vtt", "srt", "json")


@dataclass(frozen=True)
class Cue:
    """One subtitle: text shown from ``start`` to ``end`` seconds."""

    start: float
    end: float
    text: str  #: may hold line breaks

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")


def _cut(words: Sequence[SpokenWord], max_seconds: float, max_chars: int) -> list[list[SpokenWord]]:
    """Split a sentence's words into runs that fit one cue each."""
    runs: list[list[SpokenWord]] = []
    current: list[SpokenWord] = []
    for word in words:
        candidate = [*current, word]
        too_long = word.end - candidate[0].start > max_seconds
        too_wide = len(join_words(candidate)) > max_chars
        if current and (too_long or too_wide):
            runs.append(current)
            current = [word]
        else:
            current = candidate
    if current:
        runs.append(current)
    return runs


def subtitle_cues(
    transcript: Transcript,
    max_seconds: float = MAX_CUE_SECONDS,
    max_chars: int = MAX_CUE_CHARS,
    line_chars: int = LINE_CHARS,
) -> list[Cue]:
    """The transcript as subtitle cues, in time order, never overlapping."""
    cues: list[Cue] = []
    for sentence in transcript.sentences():
        for run in _cut(sentence, max_seconds, max_chars):
            text = "\n".join(textwrap.wrap(join_words(run), line_chars)) or join_words(run)
            start = max(run[0].start, cues[-1].end if cues else 0.0)
            end = max(run[-1].end, start + 0.001)
            cues.append(Cue(start=start, end=end, text=text))
    return cues


def _clock(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _vtt_text(text: str) -> str:
    # Cue text is HTML-like: '&' and '<' start markup, and "-->" would end the timing line.
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped


def to_vtt(transcript: Transcript) -> str:
    """WebVTT text (``WEBVTT`` header, one cue per sentence or part of one)."""
    blocks = ["WEBVTT"]
    for number, cue in enumerate(subtitle_cues(transcript), start=1):
        timing = f"{_clock(cue.start, '.')} --> {_clock(cue.end, '.')}"
        blocks.append(f"{number}\n{timing}\n{_vtt_text(cue.text)}")
    return "\n\n".join(blocks) + "\n"


def to_srt(transcript: Transcript) -> str:
    """SubRip (SRT) text: numbered cues with ``HH:MM:SS,mmm`` times."""
    blocks = []
    for number, cue in enumerate(subtitle_cues(transcript), start=1):
        timing = f"{_clock(cue.start, ',')} --> {_clock(cue.end, ',')}"
        blocks.append(f"{number}\n{timing}\n{cue.text}")
    return "\n\n".join(blocks) + "\n" if blocks else ""


def to_json(transcript: Transcript) -> str:
    """The transcript itself as indented JSON (segments, words, language, model)."""
    return transcript.model_dump_json(indent=2) + "\n"


def format_transcript(transcript: Transcript, fmt: str) -> str:
    """The transcript as ``fmt`` (one of :data:`FORMATS`); ValueError for another."""
    writers = {"vtt": to_vtt, "srt": to_srt, "json": to_json}
    writer = writers.get(fmt)
    if writer is None:
        raise ValueError(f"transcript format {fmt!r}: choose one of {', '.join(FORMATS)}")
    return writer(transcript)

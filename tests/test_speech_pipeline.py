"""Speech through the whole pipeline, embedded: real ffmpeg, real tiny.en ASR, real OCR.

A query about something only said, never shown, finds its moment; the clip says speech matched
and starts and ends with the sentence; a second job transcribes nothing; bad audio never fails
a video that can still be searched by what it shows.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import srt
import webvtt

from common.schemas import JobState, VideoState
from common.scorers.base import WindowMatch
from common.scorers.null import NullBenchmarkScorer
from producer.client import Client
from producer.sample_lecture import Narration, make_short_clip
from tests import media

pytestmark = pytest.mark.slow

#: (query, index of the narration sentence it is about): worded differently from the speech.
SPOKEN_QUERIES = (
    ("how vaccines train the immune system", 0),
    ("Einstein published special relativity in 1905", 1),
    ("Feynman explaining physics with simple drawings", 2),
    ("sunlight and water turned into sugar", 3),
)


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union else 0.0


@pytest.fixture(scope="module")
def short_clip(media_dir: Path):
    """A 20 s short-form clip with speech only (no text on screen)."""
    path = media_dir / "short-form.mp4"
    spoken = make_short_clip(
        path,
        (
            Narration("Here is a quick tip for your chemistry exam.", 1.0),
            Narration("Salt dissolves faster in warm water than in cold water.", 8.0),
        ),
        seconds=20.0,
    )
    return path, spoken


@pytest.fixture(scope="module")
def searched(tmp_path_factory, narrated_lecture, short_clip):
    """Every spoken query's result over the lecture, and the short clip's, from one store."""
    from common.settings import Settings

    settings = Settings(data_dir=tmp_path_factory.mktemp("speech-store"), asr=True)
    client = Client(settings)
    lecture_path, _ = narrated_lecture
    results = {
        query: client.submit([lecture_path], query, scorer="text", top_k=3).wait(timeout=300)
        for query, _ in SPOKEN_QUERIES
    }
    clip_path, _ = short_clip
    results["salt in warm water"] = client.submit(
        [clip_path], "salt dissolves in warm water", scorer="text"
    ).wait(timeout=300)
    return client, results


def test_queries_about_what_is_only_said_find_the_spoken_moment(searched, narrated_lecture):
    _client, results = searched
    _, lecture = narrated_lecture
    hits = 0
    for query, sentence in SPOKEN_QUERIES:
        spoken = lecture.spoken[sentence]
        top = results[query].clips[0]
        overlap = iou((top.start, top.end), (spoken.start, spoken.end))
        print(f"{query!r}: {top.start:.1f}-{top.end:.1f}s ({top.signal}); said "
              f"{spoken.start:.1f}-{spoken.end:.1f}s; IoU {overlap:.2f}")  # fmt: skip
        hits += overlap >= 0.5 and top.signal in ("speech", "both")
    assert hits / len(SPOKEN_QUERIES) >= 0.9


def test_a_clip_found_by_speech_starts_and_ends_with_its_sentence(searched, narrated_lecture):
    _client, results = searched
    _, lecture = narrated_lecture
    for query, sentence in SPOKEN_QUERIES:
        spoken = lecture.spoken[sentence]
        top = results[query].clips[0]
        assert top.signal == "speech", (query, top)
        assert abs(top.start - spoken.start) <= 1.0, (query, top.start, spoken.start)
        assert abs(top.end - spoken.end) <= 1.0, (query, top.end, spoken.end)


def test_a_short_form_clip_with_speech_only_is_found(searched, short_clip):
    _client, results = searched
    _, spoken = short_clip
    result = results["salt in warm water"]
    top = result.clips[0]
    assert iou((top.start, top.end), (spoken[1].start, spoken[1].end)) >= 0.5
    assert top.signal == "speech"
    speech = result.videos[0].speech
    assert speech is not None and speech.audio == "speech" and speech.english_only
    assert speech.words >= 10


def test_a_second_job_on_the_same_video_transcribes_nothing(tmp_path, narrated_lecture):
    from common.settings import Settings

    client = Client(Settings(data_dir=tmp_path / "store", asr=True))
    path, _ = narrated_lecture
    first = client.submit([path], "vaccines", scorer="text")
    first.wait(timeout=300)
    second = client.submit([path], "photosynthesis", scorer="text")
    second.wait(timeout=300)
    assert first._dispatcher.runner.ctx.counters.get("transcriptions") == 1
    assert "transcriptions" not in second._dispatcher.runner.ctx.counters


def test_speech_off_reads_only_the_screen(tmp_path, narrated_lecture):
    from common.settings import Settings

    client = Client(Settings(data_dir=tmp_path / "store", asr=False))
    path, _ = narrated_lecture
    job = client.submit([path], "how vaccines train the immune system", scorer="text")
    result = job.wait(timeout=300)
    assert result.clips == []  # the slides say "Part 1", "Introduction": no match
    assert result.videos[0].speech is None
    assert "transcriptions" not in job._dispatcher.runner.ctx.counters


class DocumentRecorder(NullBenchmarkScorer):
    """A real scorer that keeps the documents the pipeline hands it (window text included)."""

    def __init__(self) -> None:
        self.texts: list[tuple[float, float, str]] = []

    def match_windows(self, query, windows, features, transcript):
        self.texts += [(w.start, w.end, w.text) for w in windows]
        return [WindowMatch(score=50.0) for _ in windows]


def test_every_scorer_gets_the_words_spoken_in_each_window(tmp_path, narrated_lecture):
    from common.settings import Settings
    from tests.test_runner import drive, submit_only

    settings = Settings(data_dir=tmp_path / "store", asr=True, windows_per_task=4)
    path, lecture = narrated_lecture
    client, job_id, first = submit_only(settings, [path], refine_boundaries=False)
    recorder = DocumentRecorder()
    drive(settings, client.store, first, scorer=recorder)
    assert client.jobs.result(job_id).status == JobState.succeeded
    by_window = {(start, end): text for start, end, text in recorder.texts}
    first_window = by_window[(0.0, 5.0)].lower()
    assert "vaccine" in first_window or "immune" in first_window, first_window
    said = lecture.spoken[1]
    window = next(k for k in by_window if k[0] <= said.start < k[1])
    assert "einstein" in by_window[window].lower() or "1905" in by_window[window]


def test_bad_audio_gives_each_video_a_clear_outcome_and_the_rest_finishes(
    tmp_path, narrated_lecture, bad_inputs
):
    from common.settings import Settings

    folder = tmp_path / "audio"
    folder.mkdir()
    no_audio = media.testsrc_clip(folder / "no-audio.mp4", 4, fps=5, size="160x90")
    silent = media.with_silent_track(folder / "silent.mp4")
    path, _ = narrated_lecture
    corrupt = media.corrupt_audio(folder / "corrupt-audio.mp4", path)
    videos = [no_audio, silent, corrupt, bad_inputs["audio_only"], path]
    client = Client(Settings(data_dir=tmp_path / "store", asr=True))
    result = client.submit(videos, "the immune system", scorer="text").wait(timeout=300)
    by_name = {v.video: v for v in result.videos}
    assert result.status == JobState.partial
    assert by_name[str(no_audio)].speech.audio == "none"
    assert by_name[str(silent)].speech.audio == "silent"
    assert by_name[str(silent)].speech.words == 0
    broken = by_name[str(corrupt)]
    assert broken.status == VideoState.succeeded and broken.speech is None
    assert broken.speech_error.startswith(f"{corrupt}: corrupt audio stream")
    audio_only = by_name[str(bad_inputs["audio_only"])]
    assert audio_only.status == VideoState.failed
    assert "audio only" in audio_only.error
    assert by_name[str(path)].clips[0].signal == "speech"


def test_seglocate_transcript_writes_valid_webvtt_and_srt(tmp_path, narrated_lecture):
    path, _ = narrated_lecture
    env = {"SEGLOCATE_DATA_DIR": str(tmp_path / "store"), "HF_HUB_OFFLINE": "1",
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    for fmt, parse in (("vtt", webvtt.read), ("srt", None)):
        out = tmp_path / f"lecture.{fmt}"
        proc = subprocess.run(
            [sys.executable, "-m", "producer.cli", "transcript", str(path), "--format", fmt,
             "--out", str(out)],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        text = out.read_text()
        if parse is not None:
            cues = parse(str(out))
            assert any("immune" in cue.text.lower() for cue in cues)
        else:
            subtitles = list(srt.parse(text))
            assert len(subtitles) >= 4
            assert subtitles[0].start.total_seconds() < 2.0
    proc = subprocess.run(
        [sys.executable, "-m", "producer.cli", "transcript", "missing.mp4"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == (
        "seglocate: error: missing.mp4: file not found (neither a local file nor an object key)\n"
    )

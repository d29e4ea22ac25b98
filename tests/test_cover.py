"""Cover frames: ``seglocate cover VIDEO --title`` and ``Client.cover``.

End to end in embedded mode (real ffmpeg, real OCR) on a small generated lecture whose slide
spans are known, plus pure tests of the choice of frames.
"""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from PIL import Image

from common.errors import InvalidInputError, QueryError, SeglocateError, VideoError
from common.schemas import WindowScore
from common.settings import Settings
from producer.client import Client
from producer.cover import COVER_NAME, TEXT_SCORER_NOTE, CoverResult
from producer.cover_pick import FrameScore, frames_of, pick_frames
from producer.sample_lecture import Slide, make_lecture, render_slide
from tests import media
from tests.cli import assert_one_error_line, run_cli

#: A 30 s lecture of four slides with unrelated titles (640x360: small, titles still legible).
COVER_SLIDES = (
    Slide("Course Overview", ("Welcome to the course", "Grading and exams"), 7),
    Slide("Photosynthesis", ("Light becomes chemical energy", "Chlorophyll absorbs light"), 8),
    Slide("Plate Tectonics", ("The crust moves slowly", "Earthquakes happen at edges"), 8),
    Slide("Summary", ("Read chapter two", "Quiz on Friday"), 7),
)
SIZE = (640, 360)


@pytest.fixture(scope="module")
def cover_lecture(tmp_path_factory):
    """(path, slide spans) of the small lecture."""
    path = tmp_path_factory.mktemp("cover-media") / "lecture.mp4"
    return path, make_lecture(path, COVER_SLIDES, size=SIZE)


@pytest.fixture(scope="module")
def cover_settings(tmp_path_factory) -> Settings:
    """One embedded store for the module: frames and OCR are read once, then reused."""
    return Settings(
        data_dir=tmp_path_factory.mktemp("cover-store"), broker_url=None, s3_endpoint=None
    )


def span_of(spans, title: str):
    return next(s for s in spans if s.title == title)


def slide_distance(image: Image.Image, slide: Slide) -> float:
    """Mean absolute difference (0-255) of the top 60% of ``image`` (title and bullets; the
    moving inset is in the bottom corner) and the slide as rendered."""
    rendered = np.asarray(render_slide(slide, image.size), dtype=np.float32)
    shown = np.asarray(image.convert("RGB"), dtype=np.float32)
    rows = int(image.size[1] * 0.6)
    return float(np.abs(rendered[:rows] - shown[:rows]).mean())


# --- end to end -------------------------------------------------------------------------------


@pytest.mark.slow
def test_cover_with_a_slide_title_returns_that_slide_as_a_full_resolution_jpeg(
    cover_settings, cover_lecture, tmp_path
):
    path, spans = cover_lecture
    truth = span_of(spans, "Plate Tectonics")
    covers = Client(cover_settings).cover(
        path, "Plate Tectonics", top_k=3, min_gap=3.0, out=tmp_path / "covers"
    )
    assert isinstance(covers, CoverResult)
    print([(p.time, p.score, p.path.name) for p in covers.picks])
    assert covers.scorer == "text" and covers.note == TEXT_SCORER_NOTE
    assert [p.rank for p in covers.picks] == [1, 2, 3]
    first = covers.picks[0]
    assert truth.start <= first.time < truth.end and first.score >= 90
    # The slide is on screen for 8 s: three picks 3 s apart all fit inside it.
    assert all(truth.start <= p.time < truth.end for p in covers.picks)
    for pick in covers.picks:
        assert pick.path == tmp_path / "covers" / COVER_NAME.format(n=pick.rank)
        with Image.open(pick.path) as image:
            assert image.format == "JPEG" and image.size == SIZE  # the video's own resolution
            image.load()
            # The JPEG is the frame that was scored: the slide itself, not its neighbour.
            distances = {s.title: slide_distance(image, s) for s in COVER_SLIDES}
            assert min(distances, key=distances.__getitem__) == "Plate Tectonics", distances
            assert distances["Plate Tectonics"] < 10


@pytest.mark.slow
def test_picks_respect_the_minimum_gap_and_come_best_first(cover_settings, cover_lecture, tmp_path):
    path, spans = cover_lecture
    covers = Client(cover_settings).cover(path, "Photosynthesis", top_k=3, min_gap=10, out=tmp_path)
    times = [p.time for p in covers.picks]
    assert len(times) == 3
    assert all(abs(a - b) >= 10 for a, b in itertools.combinations(times, 2)), times
    scores = [p.score for p in covers.picks]
    assert scores == sorted(scores, reverse=True)
    truth = span_of(spans, "Photosynthesis")
    assert truth.start <= times[0] < truth.end
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cover-1.jpg",
        "cover-2.jpg",
        "cover-3.jpg",
    ]


@pytest.mark.slow
def test_an_object_key_is_covered_from_the_store(cover_settings, cover_lecture, tmp_path):
    path, spans = cover_lecture
    client = Client(cover_settings)
    refs, _ = client.resolve_videos([path])  # uploads it; the key is in the videos bucket
    covers = client.cover(refs[0].key, "Summary", top_k=1, out=tmp_path)
    truth = span_of(spans, "Summary")
    assert covers.video == refs[0].key
    assert len(covers.picks) == 1 and truth.start <= covers.picks[0].time < truth.end
    with Image.open(covers.picks[0].path) as image:
        assert image.size == SIZE


@pytest.mark.slow
def test_a_rotated_video_gives_covers_as_displayed(cover_settings, tmp_path):
    media.rotated_clip(tmp_path / "rotated [take*2].mp4", seconds=3)
    named = f"{tmp_path}/./rotated [take*2].mp4"  # a file, not a glob; the job drops the "./"
    covers = Client(cover_settings).cover(named, "anything", top_k=2, min_gap=0, out=tmp_path)
    assert covers.video == named
    assert len(covers.picks) == 2
    for pick in covers.picks:
        with Image.open(pick.path) as image:
            assert image.size == (180, 320)  # stored 320x180, shown turned a quarter


@pytest.mark.slow
def test_cli_cover_prints_each_frame_and_the_note(cover_settings, cover_lecture, tmp_path):
    path, _ = cover_lecture
    proc = run_cli(
        ["cover", str(path), "--title", "Course Overview", "--top-k", "2", "--out",
         str(tmp_path / "out"), "--no-progress"],
        cover_settings.data_dir,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("job ") and "'Course Overview'" in lines[0]
    rows = [line.split() for line in lines[2:4]]
    assert [row[0] for row in rows] == ["1", "2"]
    assert rows[0][1] == "00:00" and float(rows[0][2]) >= 90  # the slide shown from 0 s
    assert rows[0][3] == str(tmp_path / "out" / "cover-1.jpg")
    assert (tmp_path / "out" / "cover-2.jpg").is_file()
    assert lines[-1] == f"note: {TEXT_SCORER_NOTE}" and "--scorer qwen3-vl" in lines[-1]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--title", "  "], "title: empty"),
        (["--title", "x", "--top-k", "0"], "top-k 0: must be a whole number, at least 1"),
        (["--title", "x", "--min-gap", "-1"], "min-gap -1.0: must be 0 or more seconds"),
    ],
)
def test_cli_bad_input_is_one_line(args, expected, cover_lecture, tmp_path):
    path, _ = cover_lecture
    assert_one_error_line(run_cli(["cover", str(path), *args], tmp_path), expected)


def test_cli_missing_video_is_one_line(tmp_path):
    missing = tmp_path / "nowhere.mp4"
    proc = run_cli(["cover", str(missing), "--title", "x"], tmp_path)
    assert_one_error_line(proc, f"{missing}: file not found")


@pytest.mark.parametrize(
    ("kwargs", "error", "expected"),
    [
        ({"title": ""}, QueryError, "title: empty"),
        ({"top_k": 0}, InvalidInputError, "top-k 0"),
        ({"top_k": 2.5}, InvalidInputError, "top-k 2.5"),
        ({"min_gap": -0.5}, InvalidInputError, "min-gap -0.5"),
        ({"min_gap": float("nan")}, InvalidInputError, "min-gap nan"),
        ({"fps": 3.0}, InvalidInputError, "fps 3.0: must be above 0 and at most 2"),
    ],
)
def test_bad_requests_are_refused_before_any_job(
    embedded_settings, tmp_path, kwargs, error, expected
):
    video = media.colour_clip(tmp_path / "clip.mp4", "red", 1)
    client = Client(embedded_settings)
    request = {"title": "Summary", **kwargs}
    with pytest.raises(error, match=expected):
        client.cover(video, **request)
    assert list(client.store.list_keys(embedded_settings.work_bucket)) == []


@pytest.mark.parametrize(
    ("video", "expected"),
    [
        ("nowhere/lecture.mp4", "file not found"),
        ("https://example.com/v.mp4", "not a URL"),
        ("course/", "not a folder"),
        ("course/*.mp4", "not a folder"),
    ],
)
def test_videos_cover_cannot_take_are_refused(embedded_settings, video, expected):
    with pytest.raises(VideoError, match=expected):
        Client(embedded_settings).cover(video, "Summary")


@pytest.mark.slow
def test_a_video_that_cannot_be_read_fails_with_its_reason(embedded_settings, tmp_path):
    notes = media.not_a_video(tmp_path / "notes.mp4")
    with pytest.raises(SeglocateError, match=f"^{notes}: .*not a video"):
        Client(embedded_settings).cover(notes, "Summary", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_folder_is_refused(embedded_settings, tmp_path):
    with pytest.raises(VideoError, match="not a folder"):
        Client(embedded_settings).cover(tmp_path, "Summary")


# --- the choice of frames (pure) ---------------------------------------------------------------


def frames(*pairs: tuple[float, float]) -> list[FrameScore]:
    return [FrameScore(time, score) for time, score in pairs]


def times(picks: list[FrameScore]) -> list[float]:
    return [p.time for p in picks]


def test_best_score_first_ties_to_the_earlier_time():
    found = pick_frames(frames((0, 10), (1, 80), (2, 80), (3, 95), (4, 80)), 3, min_gap=0)
    assert times(found) == [3, 1, 2]


def test_no_two_picks_within_the_gap_exactly_the_gap_allowed():
    candidates = frames((10, 100), (12, 99), (14, 98), (15, 97), (20, 50), (4, 60))
    assert times(pick_frames(candidates, 5, min_gap=5)) == [10, 15, 4, 20]
    assert times(pick_frames(candidates, 2, min_gap=5)) == [10, 15]
    assert times(pick_frames(candidates, 5, min_gap=100)) == [10]


def test_frames_matched_only_by_speech_come_after_every_frame_on_screen():
    candidates = [
        FrameScore(0, 100, "speech"),
        FrameScore(20, 40, "ocr"),
        FrameScore(40, 30, None),
        FrameScore(60, 90, "both"),
    ]
    assert times(pick_frames(candidates, 4, min_gap=1)) == [60, 20, 40, 0]


def test_frames_recall_passed_over_are_never_picked():
    windows = [
        WindowScore(start=0, end=1, score=0, reranked=False),
        WindowScore(start=1, end=2, score=5),
        WindowScore(start=2, end=3, score=0, reranked=False),
    ]
    assert frames_of(windows) == [FrameScore(1, 5)]
    assert times(pick_frames(frames_of(windows), 3, min_gap=0)) == [1]


def test_nothing_scored_gives_no_picks():
    assert pick_frames([], 3, min_gap=10) == []


@pytest.mark.parametrize(("top_k", "min_gap"), [(0, 1.0), (1, -1.0), (1, float("nan"))])
def test_impossible_settings_raise(top_k, min_gap):
    with pytest.raises(ValueError):
        pick_frames(frames((0, 1)), top_k, min_gap)


def test_random_inputs_keep_every_rule():
    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(0, 40)
        candidates = frames(*((t * 0.5, float(rng.choice([0, 10, 50, 50, 90]))) for t in range(n)))
        top_k, gap = rng.randint(1, 6), rng.choice([0.0, 0.5, 2.0, 7.5])
        picks = pick_frames(candidates, top_k, gap)
        assert len(picks) <= top_k
        assert all(abs(a.time - b.time) >= gap for a, b in itertools.combinations(picks, 2))
        order = [(-p.score, p.time) for p in picks]
        assert order == sorted(order)  # best first, ties to the earlier
        if len(picks) < top_k:  # nothing was left out that fits
            for frame in candidates:
                assert frame in picks or any(abs(frame.time - p.time) < gap for p in picks)
        # Each pick is the best frame that fits beside the picks before it.
        for i, pick in enumerate(picks):
            fits = [
                f
                for f in candidates
                if f not in picks[:i] and all(abs(f.time - p.time) >= gap for p in picks[:i])
            ]
            assert min(fits, key=lambda f: (-f.score, f.time)) == pick


@pytest.mark.slow
@pytest.mark.integration
def test_an_object_key_in_an_s3_store_is_downloaded_for_its_covers(s3_server, tmp_path):
    suffix = tmp_path.name[-12:].lower().replace("_", "-")
    settings = Settings(
        broker_url=None,
        s3_endpoint=s3_server.endpoint,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
        videos_bucket=f"videos-{suffix}",
        results_bucket=f"results-{suffix}",
        work_bucket=f"work-{suffix}",
    )
    client = Client(settings)
    clip = media.rotated_clip(tmp_path / "rotated.mp4", seconds=3)
    client.store.ensure_bucket(settings.videos_bucket)
    client.store.put_file(settings.videos_bucket, "clips/rotated.mp4", clip)
    assert client.store.local_path(settings.videos_bucket, "clips/rotated.mp4") is None
    covers = client.cover("clips/rotated.mp4", "anything", top_k=1, out=tmp_path / "out")
    assert covers.video == "clips/rotated.mp4" and len(covers.picks) == 1
    with Image.open(covers.picks[0].path) as image:
        assert image.format == "JPEG" and image.size == (180, 320)


@pytest.mark.slow
def test_a_visual_scorer_scores_each_frame_and_needs_no_note(tmp_path, qwen_tiny_dir):
    settings = Settings(
        data_dir=tmp_path / "store", broker_url=None, s3_endpoint=None,
        scorer="qwen3-vl", model=str(qwen_tiny_dir), frame_pixels="fast",
    )  # fmt: skip
    clip = media.testsrc_clip(tmp_path / "clip.mp4", 4, size="320x180")
    title = "a colourful test pattern"
    covers = Client(settings).cover(clip, title, top_k=2, min_gap=2, out=tmp_path)
    assert covers.scorer == "qwen3-vl" and covers.note is None
    assert len(covers.picks) == 2 and abs(covers.picks[0].time - covers.picks[1].time) >= 2
    assert all(0.0 < p.score < 100.0 for p in covers.picks)  # the reranker's own scores
    with Image.open(covers.picks[0].path) as image:
        assert image.size == (320, 180)

"""Exports, each read back by an independent reader: the field's qvh format, webvtt-py, an EDL
parser written from CMX 3600's timecode rules, the csv module."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from datetime import UTC, datetime

import pytest
import webvtt

from common.errors import SeglocateError
from common.schemas import (
    Clip,
    JobResult,
    JobState,
    Query,
    ScorerInfo,
    VideoResult,
    VideoState,
    WindowScore,
)
from producer.exports import FORMATS, export_result
from producer.exports.qvh import saliency_per_clip
from producer.exports.timecode import frame_rate, frames_to_timecode


def windows_of(scores: list[float], window: float = 5.0) -> list[WindowScore]:
    return [
        WindowScore(start=i * window, end=(i + 1) * window, score=s) for i, s in enumerate(scores)
    ]


def make_result(
    clips_by_video: dict[str, list[tuple[float, float, float]]],
    frame_rates: dict[str, float | None] | None = None,
    durations: dict[str, float] | None = None,
    failed: tuple[str, ...] = (),
) -> JobResult:
    """A result with the given (start, end, score) clips per video; ranked across videos."""
    videos = []
    everything = []
    for name, spans in clips_by_video.items():
        duration = (durations or {}).get(name, 72.0)
        n_windows = math.ceil(duration / 5)
        scores = [5.0] * n_windows
        clips = []
        for rank, (start, end, score) in enumerate(sorted(spans, key=lambda s: -s[2]), 1):
            clips.append(Clip(video=name, start=start, end=end, score=score, rank=rank))
            for i in range(int(start // 5), min(n_windows, math.ceil(end / 5))):
                scores[i] = score
        windows = windows_of(scores)
        windows[-1] = WindowScore(start=windows[-1].start, end=duration, score=scores[-1])
        videos.append(
            VideoResult(
                video=name,
                duration=duration,
                status=VideoState.succeeded,
                clips=clips,
                windows=windows,
                frame_rate=(frame_rates or {}).get(name, 25.0),
            )
        )
        everything += clips
    for name in failed:
        videos.append(VideoResult(video=name, status=VideoState.failed, error=f"{name}: broken"))
    ranked = sorted(everything, key=lambda c: -c.score)
    clips = [c.model_copy(update={"rank": i}) for i, c in enumerate(ranked, 1)]
    return JobResult(
        job_id="20261125-180441-b6eedccb",
        status=JobState.partial if failed else JobState.succeeded,
        query=Query(text="free-body diagram"),
        scorer=ScorerInfo(name="ocr"),
        fps=1.0,
        window=5.0,
        stride=5.0,
        top_k=5,
        min_score=10.0,
        clips=clips,
        videos=videos,
        created_at=datetime(2026, 11, 25, 18, 4, 41, tzinfo=UTC),
    )


# --- qvh: a reader written from Moment-DETR's standalone_eval/README.md -----------------------


def read_qvh(text: str) -> list[dict]:
    """Load predictions as the QVHighlights evaluation does, checking its documented format:
    a JSON object per line with int ``qid``, str ``query`` and ``vid``, ``pred_relevant_windows``
    as ``[start (s), end (s), score]`` rows, and ``pred_saliency_scores`` (one float per 2 s clip,
    in order)."""
    rows = []
    for line in text.splitlines():
        row = json.loads(line)
        assert set(row) == {"qid", "query", "vid", "pred_relevant_windows", "pred_saliency_scores"}
        assert isinstance(row["qid"], int) and not isinstance(row["qid"], bool)
        assert isinstance(row["query"], str) and isinstance(row["vid"], str)
        for window in row["pred_relevant_windows"]:
            assert len(window) == 3 and all(isinstance(x, int | float) for x in window)
            assert 0 <= window[0] < window[1]
        assert all(isinstance(x, int | float) for x in row["pred_saliency_scores"])
        rows.append(row)
    assert len({r["qid"] for r in rows}) == len(rows), "qids must be unique"
    return rows


def temporal_iou(a: list[float], b: list[float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union


def test_qvh_lines_load_in_the_field_format_with_the_best_window_first():
    result = make_result(
        {"lecture.mp4": [(36.0, 48.0, 92.0), (10.0, 15.0, 40.0)], "other.mp4": [(0, 5, 20.0)]},
        failed=("broken.mp4",),
    )
    rows = read_qvh(export_result(result, "qvh"))
    assert [r["vid"] for r in rows] == ["lecture.mp4", "other.mp4"]  # the failed one has none
    assert [r["qid"] for r in rows] == [0, 1]
    first = rows[0]
    assert first["query"] == "free-body diagram"
    assert first["pred_relevant_windows"] == [[36.0, 48.0, 0.92], [10.0, 15.0, 0.4]]
    # Moment-DETR's R1 takes the first window: it must be the one on the truth.
    assert temporal_iou(first["pred_relevant_windows"][0][:2], [36.0, 48.0]) == 1.0
    saliency = first["pred_saliency_scores"]
    assert len(saliency) == 36  # 72 s in 2 s clips
    # the evaluation's highlight Hit@1 takes the argmax clip: inside the best moment
    best_clip = max(range(len(saliency)), key=saliency.__getitem__)
    assert 36.0 <= best_clip * 2 < 48.0


def test_saliency_is_the_overlap_weighted_window_score_per_two_second_clip():
    windows = windows_of([10.0, 80.0, 30.0])  # 0-5, 5-10, 10-15
    assert saliency_per_clip(windows, 15.0) == [0.1, 0.1, 0.45, 0.8, 0.8, 0.3, 0.3, 0.3]


def test_saliency_of_a_video_shorter_than_one_clip_is_one_score():
    assert saliency_per_clip([WindowScore(start=0, end=1.5, score=60)], 1.5) == [0.6]


# --- WebVTT: read back with webvtt-py ---------------------------------------------------------


def test_vtt_has_one_chapter_cue_per_clip_in_time_order():
    result = make_result({"lecture.mp4": [(36.0, 48.5, 92.0), (10.25, 15.0, 40.0)]})
    captions = webvtt.from_string(export_result(result, "vtt"))
    assert [(c.start_in_seconds, c.end_in_seconds) for c in captions] == [(10, 15), (36, 48)]
    assert [c.start for c in captions] == ["00:00:10.250", "00:00:36.000"]
    assert [c.end for c in captions] == ["00:00:15.000", "00:00:48.500"]
    assert [c.text for c in captions] == ["#2 score 40.0", "#1 score 92.0"]
    assert [c.identifier for c in captions] == ["clip-2", "clip-1"]


def test_vtt_names_the_video_when_a_job_has_several():
    result = make_result({"a.mp4": [(0, 5, 50.0)], "b/c.mp4": [(5, 10, 70.0)]})
    captions = webvtt.from_string(export_result(result, "vtt"))
    assert [c.text for c in captions] == ["#2 score 50.0 a.mp4", "#1 score 70.0 b/c.mp4"]


# --- EDL: an independent reader of CMX 3600 events and SMPTE timecode --------------------------

EVENT = re.compile(
    r"^(\d{3})\s+(\S+)\s+(\S+)\s+C\s+"
    r"(\d\d:\d\d:\d\d[:;]\d\d) (\d\d:\d\d:\d\d[:;]\d\d) "
    r"(\d\d:\d\d:\d\d[:;]\d\d) (\d\d:\d\d:\d\d[:;]\d\d)$"
)


def timecode_to_frames(label: str, nominal: int) -> int:
    """SMPTE label -> frame number; ``;`` marks drop-frame (2 labels per minute at 30, 4 at 60,
    skipped except every tenth minute)."""
    hh, mm, ss, ff = (int(x) for x in re.split("[:;]", label))
    frames = ((hh * 60 + mm) * 60 + ss) * nominal + ff
    if ";" in label:
        drop = nominal // 15
        total_minutes = hh * 60 + mm
        assert not (mm % 10 and ss == 0 and ff < drop), f"{label} is a dropped label"
        frames -= drop * (total_minutes - total_minutes // 10)
    return frames


def read_edl(text: str) -> tuple[str, list[dict]]:
    lines = text.splitlines()
    assert lines[0].startswith("TITLE: ") and len(lines[0]) <= 7 + 70
    assert lines[0].isascii()
    fcm = lines[1]
    events = []
    for line in lines:
        match = EVENT.match(line)
        if match:
            events.append(
                {
                    "number": int(match[1]),
                    "reel": match[2],
                    "track": match[3],
                    "src": (match[4], match[5]),
                    "rec": (match[6], match[7]),
                }
            )
        elif line.startswith("* FROM CLIP NAME: "):
            events[-1]["clip_name"] = line.split(": ", 1)[1]
    return fcm, events


@pytest.mark.parametrize(
    ("fps", "nominal", "real_fps", "fcm"),
    [
        (25.0, 25, 25.0, "FCM: NON-DROP FRAME"),
        (30000 / 1001, 30, 30000 / 1001, "FCM: DROP FRAME"),
        (29.97, 30, 30000 / 1001, "FCM: DROP FRAME"),  # ffprobe may round
        (30.0, 30, 30.0, "FCM: NON-DROP FRAME"),
    ],
)
def test_edl_timecodes_round_trip_to_the_clip_times_within_one_frame(fps, nominal, real_fps, fcm):
    # Times across several ten-minute drop-frame cycles and an hour boundary.
    spans = [(t, t + 7.3, 90 - i) for i, t in enumerate([0.0, 59.95, 600.04, 3599.9, 4321.123])]
    spans += [(60.0 * k + 0.04, 60.0 * k + 2.0, 10 + k) for k in range(1, 12)]
    result = make_result({"talk.mp4": spans}, {"talk.mp4": fps}, {"talk.mp4": 5000.0})
    found_fcm, events = read_edl(export_result(result, "edl"))
    assert found_fcm == fcm
    assert [e["number"] for e in events] == list(range(1, len(result.clips) + 1))
    one_frame = 1 / real_fps
    record_start = timecode_to_frames(events[0]["rec"][0], nominal)
    assert abs(record_start / real_fps - 3600) <= one_frame  # programme starts at 1 h
    previous_out = record_start
    for clip, event in zip(result.clips, events, strict=True):
        src_in, src_out = (timecode_to_frames(tc, nominal) / real_fps for tc in event["src"])
        assert abs(src_in - clip.start) <= one_frame, (clip, event)
        assert abs(src_out - clip.end) <= one_frame, (clip, event)
        rec_in, rec_out = (timecode_to_frames(tc, nominal) for tc in event["rec"])
        assert rec_in == previous_out  # events laid end to end on the record side
        # each end is within half a frame, so the length is within one
        assert abs((rec_out - rec_in) / real_fps - (clip.end - clip.start)) <= one_frame + 1e-9
        previous_out = rec_out
        assert event["clip_name"] == "talk.mp4"
        assert event["reel"] == "AX" and event["track"] == "V"


@pytest.mark.parametrize(
    ("frames", "label"),
    [
        (1799, "00:00:59;29"),
        (1800, "00:01:00;02"),  # 00:01:00;00 and ;01 do not exist
        (17981, "00:09:59;29"),
        (17982, "00:10:00;00"),  # every tenth minute keeps its labels
        (107892, "01:00:00;00"),  # 29.97 DF keeps the wall clock: one hour is 107892 frames
    ],
)
def test_drop_frame_labels_skip_two_numbers_a_minute_except_every_tenth(frames, label):
    assert frames_to_timecode(frames, frame_rate(30000 / 1001)) == label


def test_edl_says_which_frame_rate_it_assumed_when_the_result_has_none():
    result = make_result({"old.mp4": [(10.0, 20.0, 50.0)]}, {"old.mp4": None})
    text = export_result(result, "edl")
    assert "* FRAME RATE UNKNOWN, 25 FPS ASSUMED FOR: old.mp4" in text
    _, events = read_edl(text)
    assert events[0]["src"] == ("00:00:10:00", "00:00:20:00")


# --- CSV: the csv module ------------------------------------------------------------------------


def test_csv_has_one_row_per_clip_best_first():
    result = make_result({"a.mp4": [(10, 15, 40.0)], "dir/b, c.mp4": [(36, 48.5, 92.5)]})
    rows = list(csv.DictReader(io.StringIO(export_result(result, "csv"))))
    assert [(r["rank"], r["video"], r["start"], r["end"], r["score"]) for r in rows] == [
        ("1", "dir/b, c.mp4", "36.000", "48.500", "92.50"),
        ("2", "a.mp4", "10.000", "15.000", "40.00"),
    ]
    assert rows[0]["duration"] == "12.500" and rows[0]["query"] == "free-body diagram"


def test_an_unknown_format_is_refused_with_the_choices():
    with pytest.raises(
        SeglocateError, match=r"export format 'pdf': unknown; choose one of qvh, vtt"
    ):
        export_result(make_result({}), "pdf")
    assert FORMATS == ("qvh", "vtt", "edl", "csv")


# --- the whole path: a real job, Job.export and ``seglocate export`` ---------------------------


@pytest.fixture(scope="module")
def ntsc_job(tmp_path_factory):
    """A finished embedded job on a 12 s clip at 29.97 fps (null-benchmark scorer: no model)."""
    from common.settings import Settings
    from producer.client import Client
    from tests import media

    folder = tmp_path_factory.mktemp("ntsc")
    clip = media.testsrc_clip(folder / "ntsc.mp4", 12, fps=30000 / 1001)
    settings = Settings(data_dir=folder / "store", broker_url=None, s3_endpoint=None)
    job = Client(settings).submit([clip], "anything", scorer="null-benchmark", min_score=0)
    job.wait(timeout=120)
    return settings, job


def test_a_finished_job_records_each_videos_frame_rate_and_the_edl_uses_it(ntsc_job):
    _, job = ntsc_job
    result = job.result()
    assert result.videos[0].frame_rate == pytest.approx(30000 / 1001)
    fcm, events = read_edl(job.export("edl"))
    assert fcm == "FCM: DROP FRAME" and events
    assert all(";" in tc for e in events for tc in e["src"])


def test_the_export_command_writes_each_format(ntsc_job, tmp_path, monkeypatch, capsys):
    from producer.cli import main

    settings, job = ntsc_job
    monkeypatch.setenv("SEGLOCATE_DATA_DIR", str(settings.data_dir))
    for fmt in FORMATS:
        out = tmp_path / f"out.{fmt}"
        with pytest.raises(SystemExit) as exited:
            main(["export", job.job_id, "--format", fmt, "--out", str(out)])
        assert exited.value.code == 0
        assert out.read_text(encoding="utf-8") == job.export(fmt)
    with pytest.raises(SystemExit):
        main(["export", job.job_id, "--format", "csv"])
    assert capsys.readouterr().out == job.export("csv")


def test_exporting_a_job_that_does_not_exist_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    from producer.cli import main

    monkeypatch.setenv("SEGLOCATE_DATA_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as exited:
        main(["export", "no-such-job", "--format", "vtt"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("seglocate: error: ") and err.count("\n") == 1
    assert "Traceback" not in err

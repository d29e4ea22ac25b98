"""End to end in embedded mode: real ffmpeg, real OCR, local folder store."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from common.schemas import JobState, VideoState
from producer.client import Client
from tests import media

pytestmark = pytest.mark.slow


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union else 0.0


@pytest.fixture(scope="module")
def shared_settings(tmp_path_factory):
    from common.settings import Settings

    return Settings(data_dir=tmp_path_factory.mktemp("store"), broker_url=None, s3_endpoint=None)


@pytest.mark.parametrize(
    ("query", "slide_title"),
    [
        ("free-body diagram", "Free-Body Diagrams"),
        ("Newton's second law", "Newton's Second Law"),
        ("元素周期表", "元素周期表"),
        ("equal and opposite reactions", "Newton's Third Law"),
    ],
)
def test_top_clip_overlaps_the_slide_that_shows_the_query(
    shared_settings, lecture, query, slide_title
):
    path, spans = lecture
    truth = next(s for s in spans if s.title == slide_title)
    result = Client(shared_settings).submit([path], query, scorer="ocr", top_k=3).wait(timeout=300)
    assert result.status == JobState.succeeded
    top = result.clips[0]
    overlap = iou((top.start, top.end), (truth.start, truth.end))
    print(
        f"{query!r}: top clip {top.start:.1f}-{top.end:.1f}s score {top.score:.1f}; "
        f"slide {truth.start:.0f}-{truth.end:.0f}s; IoU {overlap:.2f}"
    )
    assert overlap >= 0.5


def test_a_second_query_reuses_frames_and_ocr_and_is_faster(embedded_settings, lecture):
    path, _ = lecture
    client = Client(embedded_settings)
    t0 = time.perf_counter()
    first = client.submit([path], "inertia", scorer="ocr")
    first.wait(timeout=300)
    t1 = time.perf_counter()
    second = client.submit([path], "gravity and friction", scorer="ocr")
    second.wait(timeout=300)
    t2 = time.perf_counter()
    first_counts = first._dispatcher.runner.ctx.counters
    second_counts = second._dispatcher.runner.ctx.counters
    print(
        f"first query {t1 - t0:.2f}s, cached second query {t2 - t1:.2f}s, "
        f"speed-up x{(t1 - t0) / max(t2 - t1, 1e-6):.1f}"
    )
    assert first_counts.get("decodes") == 1 and first_counts.get("feature_extractions") == 1
    assert "decodes" not in second_counts and "feature_extractions" not in second_counts
    assert second_counts.get("frame_cache_hits") == 1


def test_result_json_has_the_stable_layout_and_thumbnails(embedded_settings, lecture):
    path, _ = lecture
    result = (
        Client(embedded_settings)
        .submit([path], "free-body diagram", scorer="ocr", top_k=2)
        .wait(timeout=300)
    )
    stored = embedded_settings.data_dir / "results" / result.job_id / "result.json"
    data = json.loads(stored.read_text())
    assert data["schema_version"] == 1
    assert data["scorer"]["name"] == "text"
    assert (data["fps"], data["window"], data["stride"]) == (1.0, 5.0, 5.0)
    video = data["videos"][0]
    assert video["status"] == "succeeded" and video["error"] is None
    assert len(video["windows"]) == 14  # 72 s in 5 s windows, the 2 s tail merged
    assert video["windows"][-1]["end"] == pytest.approx(72.0, abs=0.2)
    assert [c["rank"] for c in data["clips"]] == list(range(1, len(data["clips"]) + 1))
    for clip in data["clips"]:
        assert 0 <= clip["score"] <= 100 and clip["video"] == str(path)
        thumb = embedded_settings.data_dir / "results" / clip["thumbnail"]
        assert Image.open(thumb).format == "JPEG"


def test_bad_videos_are_reported_and_the_rest_of_the_job_finishes(
    embedded_settings, lecture, bad_inputs
):
    path, _ = lecture
    inputs = [bad_inputs[k] for k in sorted(bad_inputs)] + [path]
    result = (
        Client(embedded_settings)
        .submit(inputs, "free-body diagram", scorer="ocr")
        .wait(timeout=300)
    )
    assert result.status == JobState.partial
    by_name = {v.video: v for v in result.videos}
    assert by_name[str(path)].status == VideoState.succeeded
    assert result.clips and all(c.video == str(path) for c in result.clips)
    for kind, bad in bad_inputs.items():
        video = by_name[str(bad)]
        assert video.status == VideoState.failed, kind
        assert str(bad) in video.error and "\n" not in video.error


def test_a_video_shorter_than_one_window_is_scored_as_one_window(embedded_settings, tmp_path):
    clip = media.testsrc_clip(tmp_path / "short.mp4", 2.5)
    result = (
        Client(embedded_settings)
        .submit([clip], "anything", scorer="null-benchmark")
        .wait(timeout=60)
    )
    windows = result.videos[0].windows
    assert [(w.start, w.end) for w in windows] == [(0.0, 2.5)]


def run_cli(args, settings, cwd: Path):
    env = {
        "SEGLOCATE_DATA_DIR": str(settings.data_dir),
        "PATH": "/usr/bin:/bin",
        "HF_HUB_OFFLINE": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "producer.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def test_cli_exits_non_zero_with_one_line_per_file_when_nothing_could_be_processed(
    embedded_settings, bad_inputs
):
    args = [
        "locate",
        str(bad_inputs["empty"]),
        str(bad_inputs["audio_only"]),
        "--query",
        "x",
        "--no-progress",
    ]
    proc = run_cli(args, embedded_settings, Path.cwd())
    assert proc.returncode == 1
    assert f"{bad_inputs['empty']}: empty file (0 bytes)" in proc.stderr
    assert f"{bad_inputs['audio_only']}: audio only" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--query", "   "], "query: empty"),
        (["--query", "x", "--fps", "-1"], "fps"),
        (["--query", "x", "--window", "0"], "window"),
        (["--query", "x", "--window", "2", "--stride", "3"], "stride 3s is larger than window 2s"),
        (["--query", "x", "--scorer", "nope"], "scorer 'nope': unknown"),
        (
            ["--query-image", "cat.png", "--scorer", "qwen3-vl"],
            "query image cat.png: file not found",
        ),
        (["--query-image", "cat.png", "--scorer", "ocr"], "cannot use an image query"),
    ],
)
def test_cli_rejects_bad_queries_and_parameters_in_one_line(
    embedded_settings, lecture, extra, expected
):
    path, _ = lecture
    proc = run_cli(["locate", str(path), *extra, "--no-progress"], embedded_settings, Path.cwd())
    assert proc.returncode == 2
    assert expected in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_cli_locate_prints_a_ranked_table_and_writes_json(embedded_settings, lecture, tmp_path):
    path, _spans = lecture
    out = tmp_path / "out.json"
    proc = run_cli(
        [
            "locate",
            str(path),
            "--query",
            "free-body diagram",
            "--scorer",
            "ocr",
            "--top-k",
            "2",
            "--json",
            str(out),
            "--no-progress",
        ],
        embedded_settings,
        Path.cwd(),
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1].split()[:4] == ["rank", "video", "start-end", "score"]
    assert lines[2].split()[0] == "1" and "00:3" in lines[2]
    assert "result JSON:" in lines[-1]
    assert json.loads(out.read_text())["clips"][0]["rank"] == 1

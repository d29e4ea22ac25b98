"""The web page's logic without a browser: rendering, input checks, launch notices."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from common.errors import InvalidInputError, SeglocateError
from common.schemas import (
    Clip,
    JobResult,
    JobState,
    JobStatus,
    Query,
    ScorerInfo,
    VideoResult,
    VideoState,
    VideoStatus,
    WindowScore,
)
from producer.client import Client
from producer.ui import formatting
from producer.ui.callbacks import PageActions
from producer.ui.launch import access_notice, is_loopback, parse_auth
from producer.ui.uploads import check_upload_size, check_uploaded_path
from tests import media


def result_with_clips() -> JobResult:
    clips = [
        Clip(video="course/a.mp4", start=36.0, end=48.0, score=92.4, rank=1,
             thumbnail="j/thumbnails/00000-01.jpg"),
        Clip(video="course/b.mp4", start=5.0, end=10.0, score=40.0, rank=2),
    ]  # fmt: skip
    windows = [WindowScore(start=i * 6.0, end=(i + 1) * 6.0, score=10.0 * i) for i in range(10)]
    return JobResult(
        job_id="j",
        status=JobState.partial,
        query=Query(text="free-body <diagram>"),
        scorer=ScorerInfo(name="ocr"),
        fps=1,
        window=6,
        stride=6,
        top_k=5,
        min_score=10,
        clips=clips,
        videos=[
            VideoResult(video="course/a.mp4", duration=60, status=VideoState.succeeded,
                        clips=clips[:1], windows=windows),
            VideoResult(video="course/b.mp4", duration=60, status=VideoState.succeeded,
                        clips=clips[1:], windows=windows),
            VideoResult(video="bad.mp4", status=VideoState.failed, error="bad.mp4: not a video"),
        ],
        created_at=datetime(2026, 11, 25, tzinfo=UTC),
    )  # fmt: skip


def test_clip_cards_show_rank_video_span_score_and_play_the_clip_start():
    html = formatting.clips_html(
        result_with_clips(), lambda key: f"/t/{key}", lambda video: f"/v/{video}"
    )
    cards = re.findall(r"<button[^>]*>.*?</button>", html)
    assert len(cards) == 2
    assert "data-url='/v/course/a.mp4' data-start='36.000'" in cards[0]
    assert "<img src='/t/j/thumbnails/00000-01.jpg'" in cards[0]
    assert "<span class='seglocate-span'>00:36–00:48</span>" in cards[0]
    assert "score 92" in cards[0] and ">a.mp4<" in cards[0]
    assert "seglocate-nothumb" in cards[1]


def test_a_video_the_page_cannot_serve_has_a_card_that_does_not_play():
    html = formatting.clips_html(result_with_clips(), str, lambda video: None)
    assert "data-url" not in html and "cannot be played" in html


def test_the_summary_escapes_the_query_and_lists_failures():
    text = formatting.result_summary(result_with_clips())
    assert "free-body &lt;diagram&gt;" in text
    assert "failed: bad.mp4: not a video" in text
    assert text.startswith("**Done, but some videos failed**: 2 clips")


def test_progress_says_windows_done_of_total_and_each_videos_state():
    status = JobStatus(
        job_id="j",
        state=JobState.running,
        windows_done=12,
        windows_total=30,
        videos=[
            VideoStatus(video="uploads/ab/lecture.mp4", state=VideoState.scoring,
                        windows_done=12, windows_total=20),
            VideoStatus(video="x.mp4", state=VideoState.failed, error="x.mp4: file not found"),
        ],
    )  # fmt: skip
    text = formatting.status_markdown(status)
    assert text.splitlines()[0] == "**Searching**: 12 of 30 windows (40%)"
    assert "- lecture.mp4: scoring (12/20)" in text
    assert "- x.mp4: failed, x.mp4: file not found" in text


def test_the_score_figure_has_a_curve_per_video_with_its_clips_marked():
    figure = formatting.score_figure(result_with_clips())
    axes = figure.axes
    assert [ax.get_title(loc="left") for ax in axes] == ["a.mp4", "b.mp4"]
    assert [t.get_text() for t in axes[0].texts] == ["#1"]
    assert axes[0].get_xlim() == (0.0, 60.0)


def test_errors_are_the_clis_one_line_message():
    from pydantic import ValidationError

    from common.schemas import JobOptions

    assert formatting.one_line_error(InvalidInputError("a.mp4", "not a video")) == (
        "a.mp4: not a video"
    )
    with pytest.raises(ValidationError) as caught:
        JobOptions(window=-1)
    assert formatting.one_line_error(caught.value).startswith("window: Input should be greater")
    assert "Traceback" not in formatting.one_line_error(RuntimeError("x\nTraceback"))


def test_only_files_inside_the_upload_folder_are_accepted(tmp_path):
    root = tmp_path / "gradio"
    (root / "abc").mkdir(parents=True)
    inside = root / "abc" / "lecture.mp4"
    inside.write_bytes(b"x" * 2048)
    assert check_uploaded_path(str(inside), root) == inside
    for name in ("/etc/passwd", str(root / "abc" / ".." / ".." / "secret"), str(root / "abc")):
        with pytest.raises(InvalidInputError, match="not a file this page received"):
            check_uploaded_path(name, root)
    link = root / "abc" / "link.mp4"
    link.symlink_to("/etc/hostname")
    with pytest.raises(InvalidInputError):
        check_uploaded_path(str(link), root)


def test_a_file_over_the_upload_limit_is_refused_with_the_setting_name(tmp_path):
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * (2 * 1024 * 1024 + 1))
    check_upload_size(big, 3, "video")
    with pytest.raises(
        InvalidInputError, match=r"video big.mp4: 2 MB is over .* 1 MB .*MAX_UPLOAD"
    ):
        check_upload_size(big, 1, "video")


def test_a_search_whose_upload_names_a_server_file_is_refused(tmp_path, monkeypatch):
    """Gradio 6 refuses it before the event runs; the page checks again on its own."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    (tmp_path / "gradio").mkdir()
    actions = PageActions(Client(_settings(tmp_path)), max_upload_mb=10)
    form = [["/etc/passwd"], None, "free-body diagram", None, None, None, 1.0, 5.0, 0, 5, 10, "ocr"]
    with pytest.raises(InvalidInputError, match="'passwd': not a file this page received"):
        actions.submit(*form)
    form[0], form[4] = None, "/etc/hostname"  # the query clip
    with pytest.raises(InvalidInputError, match="'hostname': not a file this page received"):
        actions.submit(*form)
    assert list(actions.client.store.list_keys(actions.client.settings.work_bucket)) == []


def test_the_page_refuses_an_empty_query_and_no_video_as_the_cli_does(tmp_path):
    actions = PageActions(Client(_settings(tmp_path)), max_upload_mb=10)
    form = [None, None, "  ", None, None, None, 1.0, 5.0, 0, 5, 10, "ocr"]
    with pytest.raises(SeglocateError) as caught:
        actions.submit(*form)
    assert str(caught.value) == "query: empty (give a text, an image or a video clip)"
    form[2] = "free-body diagram"
    with pytest.raises(SeglocateError, match="videos: none chosen"):
        actions.submit(*form)
    form[1] = ["README.md"]  # a file next to the server, not an object in the bucket
    with pytest.raises(SeglocateError, match=r"README\.md: no such object or prefix"):
        actions.submit(*form)


def test_the_page_refuses_a_bad_recall_with_the_cli_message(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    (tmp_path / "gradio").mkdir()
    upload = media.testsrc_clip(tmp_path / "gradio" / "clip.mp4", 2)
    actions = PageActions(Client(_settings(tmp_path)), max_upload_mb=10)
    form = [[str(upload)], None, "inertia", None, None, None, 1.0, 1.0, 0, 5, 10, "ocr"]
    for value, message in (("0", "at least 1 window"), ("lots", "not a number")):
        with pytest.raises(SeglocateError, match=message):
            actions.submit(*form, value)
    job = actions.submit(*form, "all")
    job.wait(timeout=120)
    assert actions.client.jobs.spec(job.job_id).options.recall == "all"


def test_bucket_choices_are_video_keys_and_their_folders(tmp_path):
    client = Client(_settings(tmp_path))
    for key in ("course/week1/a.mp4", "course/b.MOV", "notes.txt", "uploads/ff/c.mp4"):
        client.store.put_bytes(client.settings.videos_bucket, key, b"x")
    choices = PageActions(client, 10).bucket_choices()
    assert choices == [
        "course/", "course/b.MOV", "course/week1/", "course/week1/a.mp4", "uploads/",
        "uploads/ff/c.mp4",
    ]  # fmt: skip


def _settings(tmp_path: Path):
    from common.settings import Settings

    return Settings(data_dir=tmp_path / "store", broker_url=None, s3_endpoint=None)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("192.168.1.5", False), ("myhost", False)],
)  # fmt: skip
def test_only_loopback_addresses_count_as_this_computer(host, loopback):
    assert is_loopback(host) is loopback


def test_the_page_says_it_is_local_by_default_and_warns_when_shared_without_login():
    line, warning = access_notice("127.0.0.1", 7860, auth=False)
    assert "this computer only" in line and warning is None
    line, warning = access_notice("0.0.0.0", 7860, auth=False)
    assert "reachable from the network" in line
    assert warning is not None and "no authentication" in warning
    assert "SEGLOCATE_UI_AUTH=user:password" in warning
    line, warning = access_notice("0.0.0.0", 7860, auth=True)
    assert "Login required" in line and warning is None


def test_ui_auth_is_user_colon_password():
    assert parse_auth(None) is None
    assert parse_auth("teacher:s3cret:with:colons") == ("teacher", "s3cret:with:colons")
    for bad in ("teacher", ":pw", "teacher:"):
        with pytest.raises(InvalidInputError, match="SEGLOCATE_UI_AUTH: expected user:password"):
            parse_auth(bad)


@pytest.mark.slow
def test_cancel_on_the_page_stops_a_running_job_and_shows_it_cancelled(tmp_path, lecture):
    actions = PageActions(Client(_settings(tmp_path)), max_upload_mb=10)
    job = actions.client.submit([lecture[0]], "free-body diagram", scorer="ocr")
    job_id, status, *_ = actions.cancel(job.job_id)
    assert job_id == job.job_id
    assert status.startswith("**Cancelled**: stopped before any clip was found"), status
    assert job.result().status == JobState.cancelled
    job._dispatcher.thread.join(timeout=60)  # the background steps stop at their next check
    assert not job._dispatcher.thread.is_alive()

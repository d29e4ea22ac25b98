"""Limits that keep one hostile or careless submit from stopping workers: windows per video,
the sampling rate, the length of a query."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.schemas import JobState, VideoState
from common.settings import Settings
from producer.client import Client
from tests import media
from tests.cli import assert_one_error_line, run_cli


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("limits")
    return {
        "60s": media.colour_clip(folder / "sixty.mp4", "red", 60, fps=2),
        "20s": media.colour_clip(folder / "twenty.mp4", "blue", 20, fps=2),
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--window", "1e-7"], "window 1e-07s is shorter than one sampled frame (1/fps = 1s)"),
        (["--window", "0.5"], "window 0.5s is shorter than one sampled frame (1/fps = 1s)"),
        (["--stride", "0.2"], "stride 0.2s is shorter than one sampled frame (1/fps = 1s)"),
        (["--fps", "30"], "fps: Input should be less than or equal to 2"),
    ],
)
def test_submit_refuses_windows_shorter_than_a_frame_and_fast_sampling_in_one_line(
    tmp_path, clips, options, message
):
    store = tmp_path / "store"
    proc = run_cli(["submit", str(clips["20s"]), "--query", "x", *options], store)
    assert_one_error_line(proc, message)
    assert proc.stdout == ""
    assert not (store / "seglocate-work" / "jobs").exists(), "a refused job was written"


def test_a_video_with_more_windows_than_the_limit_fails_and_the_rest_finishes(tmp_path, clips):
    settings = Settings(data_dir=tmp_path / "store", max_windows_per_video=10)
    long, short = clips["60s"], clips["20s"]
    result = Client(settings).submit([long, short], "x", scorer="null-benchmark").wait(timeout=120)
    assert result.status == JobState.partial
    by_name = {v.video: v for v in result.videos}
    failed = by_name[str(long)]
    assert failed.status == VideoState.failed and not failed.windows
    assert failed.error == (
        f"{long}: 12 windows of 5s every 5s over 60s exceed the limit of 10 windows per video "
        "(SEGLOCATE_MAX_WINDOWS_PER_VIDEO); use a longer window or stride"
    )
    assert by_name[str(short)].status == VideoState.succeeded
    assert len(by_name[str(short)].windows) == 4


def test_submit_refuses_a_query_longer_than_the_limit_in_one_line(tmp_path, clips):
    store = tmp_path / "store"
    long_query = "free-body diagram " * 112  # 2,016 characters
    proc = run_cli(["submit", str(clips["20s"]), "--query", long_query], store)
    assert_one_error_line(
        proc, "query: 2,015 characters; at most 2,000 (SEGLOCATE_MAX_QUERY_CHARS)"
    )
    assert not (store / "seglocate-work" / "jobs").exists()
    proc = run_cli(
        ["submit", str(clips["20s"]), "--query", "x", "--instruction", "y" * 30],
        store,
        env={"SEGLOCATE_MAX_QUERY_CHARS": "20"},
    )
    assert_one_error_line(
        proc, "instruction: 30 characters; at most 20 (SEGLOCATE_MAX_QUERY_CHARS)"
    )


def test_workers_refuse_a_crafted_spec_with_a_long_query(tmp_path, clips):
    """A spec written straight to the store (no client checks) fails each video with the reason."""
    from common import keys
    from common.jobstate import JobStore
    from common.pipeline import TASK_INGEST
    from common.schemas import JobOptions, JobResult, JobSpec, Query, VideoRef, VideoTask
    from common.storage import open_store, read_model
    from workers.embedded import EmbeddedRunner

    settings = Settings(data_dir=tmp_path / "store", max_query_chars=100)
    store = open_store(settings)
    store.put_file(settings.videos_bucket, "lib/twenty.mp4", clips["20s"])
    spec = JobSpec(
        job_id="crafted-long-query",
        query=Query(text="x" * 5000),
        options=JobOptions(scorer="null-benchmark"),
        videos=[
            VideoRef(name="lib/twenty.mp4", bucket=settings.videos_bucket, key="lib/twenty.mp4")
        ],
    )
    JobStore(store, settings.work_bucket, settings.results_bucket).write_spec(spec)
    runner = EmbeddedRunner(settings, store)
    runner.submit(
        TASK_INGEST, VideoTask(job_id=spec.job_id, video_index=0, scorer="null-benchmark")
    )
    runner.run()
    result = read_model(store, settings.results_bucket, keys.result_json(spec.job_id), JobResult)
    (video,) = result.videos
    assert result.status == JobState.failed and video.status == VideoState.failed
    assert video.error == "query: 5,000 characters; at most 100 (SEGLOCATE_MAX_QUERY_CHARS)"

"""Cancelling a running job: queued work is skipped, running tasks stop at their next check, the
job ends ``cancelled`` and the windows scored before the cancellation are kept in the result."""

from __future__ import annotations

import time

import pytest

from common.schemas import JobState, VideoState
from producer.client import Client
from tests.cluster import wait_until
from tests.reliability.conftest import stored_batches

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Windows of the job below (100 + 3 x 12 windows of 5 s), one per scoring task.
TOTAL_WINDOWS = 136


def start(cluster, videos):
    cluster.start_worker("cpu", concurrency=2)
    cluster.start_worker("gpu")
    cluster.wait_for_workers(2)
    job = Client(cluster.settings).submit(videos, "x", scorer="null-benchmark", window=5)
    wait_until(lambda: len(stored_batches(cluster, job.job_id)) >= 8, 60, what="8 batches")
    return job


def scored_windows(cluster, job_id: str) -> dict[int, set[int]]:
    """Video index -> indices of the windows whose scores are stored."""
    out: dict[int, set[float]] = {}
    for batch in stored_batches(cluster, job_id).values():
        out.setdefault(batch.video_index, set()).update(
            range(batch.first_window, batch.first_window + len(batch.scores))
        )
    return out


def check_cancelled(cluster, job, before: dict[int, set[int]]) -> None:
    result = cluster.wait_result(job.job_id, timeout=60)
    assert result.status == JobState.cancelled
    time.sleep(2)  # whatever was still queued has run into the cancellation by now
    final = sum(len(s) for s in scored_windows(cluster, job.job_id).values())
    assert final < TOTAL_WINDOWS, "queued scoring went on after the cancellation"
    result = cluster.wait_result(job.job_id)
    assert {v.status for v in result.videos} <= {VideoState.succeeded, VideoState.cancelled}
    assert any(v.status == VideoState.cancelled for v in result.videos)
    for index, video in enumerate(result.videos):
        starts = [w.start for w in video.windows]
        assert starts == sorted(set(starts))
        kept = {round(s / 5) for s in starts}  # window index (5 s windows)
        assert before.get(index, set()) <= kept, f"{video.video}: scored windows were dropped"
        assert all(w.score == 50.0 for w in video.windows)
    print(
        f"windows scored at cancel: {sum(len(v) for v in before.values())}, "
        f"at the end: {final} of {TOTAL_WINDOWS}; "
        f"windows in the result: {sum(len(v.windows) for v in result.videos)}"
    )


def test_job_cancel_stops_queued_work_and_keeps_what_was_scored(
    redis, make_cluster, long_video, short_videos
):
    cluster = make_cluster(redis.url, windows_per_task=1)
    job = start(cluster, [long_video, *short_videos])
    before = scored_windows(cluster, job.job_id)
    job.cancel()
    check_cancelled(cluster, job, before)
    assert job.status().state == JobState.cancelled


def test_seglocate_cancel_stops_a_running_job(redis, make_cluster, long_video, short_videos):
    cluster = make_cluster(redis.url, windows_per_task=1)
    job = start(cluster, [long_video, *short_videos])
    before = scored_windows(cluster, job.job_id)
    proc = cluster.cli("cancel", job.job_id)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"job {job.job_id}: cancelled"
    check_cancelled(cluster, job, before)
    status = cluster.cli("status", job.job_id)
    assert status.stdout.startswith(f"job {job.job_id}: cancelled")


def test_cancelling_a_finished_job_leaves_its_result_as_it_was(redis, make_cluster, short_videos):
    cluster = make_cluster(redis.url)
    cluster.start_worker("cpu")
    cluster.start_worker("gpu")
    cluster.wait_for_workers(2)
    job = Client(cluster.settings).submit(short_videos[:1], "x", scorer="null-benchmark")
    done = cluster.wait_result(job.job_id, timeout=60)
    assert done.status == JobState.succeeded
    proc = cluster.cli("cancel", job.job_id)
    assert proc.returncode == 0, proc.stderr
    time.sleep(2)  # let a finalize step, had one been sent, run
    after = cluster.wait_result(job.job_id)
    assert after.status == JobState.succeeded
    assert after.model_dump(exclude={"finished_at"}) == done.model_dump(exclude={"finished_at"})
    assert "already finished" in proc.stdout

"""A video whose ingest kills the worker process every time (a poison message).

With late acks and ``task_reject_on_worker_lost`` the message returns after each death; the
redelivery guard counts the deaths in the store and, past ``SEGLOCATE_MAX_REDELIVERIES``, fails
that video with the reason instead of looping. The rest of the job finishes (``partial``).
"""

from __future__ import annotations

import time

import pytest

from common.schemas import JobState, VideoState
from producer.client import Client
from tests import media

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAX_REDELIVERIES = 2
#: Workers of this test crash on videos whose name holds this text.
POISON = "POISON-PILL"


def test_a_poison_video_is_failed_after_bounded_redeliveries_and_the_rest_succeeds(
    redis, make_cluster, short_videos, tmp_path
):
    poison = media.testsrc_clip(tmp_path / f"{POISON}.mp4", 6, fps=5, size="160x90")
    cluster = make_cluster(redis.url, max_redeliveries=MAX_REDELIVERIES)
    cpu = cluster.start_worker("cpu", concurrency=1, SEGLOCATE_FAULT_CRASH_ON_VIDEO=POISON)
    cluster.start_worker("gpu")
    cluster.wait_for_workers(2)
    client = Client(cluster.settings)
    job = client.submit([short_videos[0], poison, short_videos[1]], "x", scorer="null-benchmark")
    result = cluster.wait_result(job.job_id, timeout=120)

    by_name = {v.video: v for v in result.videos}
    assert result.status == JobState.partial
    failed = by_name[str(poison)]
    assert failed.status == VideoState.failed
    assert str(poison) in failed.error
    assert f"a worker died {MAX_REDELIVERIES + 1} times" in failed.error
    assert "poison message" in failed.error
    for good in short_videos[:2]:
        assert by_name[str(good)].status == VideoState.succeeded
        assert len(by_name[str(good)].windows) == 12

    crashes = lambda: cluster.full_logs().count("fault injection: crashing")  # noqa: E731
    assert crashes() == MAX_REDELIVERIES + 1
    time.sleep(3)
    assert crashes() == MAX_REDELIVERIES + 1, "the poison message is still being redelivered"
    assert cpu.alive()
    again = client.submit([short_videos[2]], "y", scorer="null-benchmark")
    assert cluster.wait_result(again.job_id, timeout=60).status == JobState.succeeded
    assert crashes() == MAX_REDELIVERIES + 1


def test_a_step_that_runs_out_of_memory_fails_its_video_and_the_worker_lives(
    redis, make_cluster, short_videos, tmp_path
):
    """Regression: Celery treats MemoryError as unrecoverable and the worker process exited;
    the guard had recorded the execution as ended, so the poison cap never tripped and every
    redelivery killed the next worker."""
    hog = media.testsrc_clip(tmp_path / "MEMORY-HOG.mp4", 6, fps=5, size="160x90")
    cluster = make_cluster(redis.url)
    cpu = cluster.start_worker("cpu", concurrency=1, SEGLOCATE_FAULT_MEMORY_ERROR_ON_VIDEO="HOG")
    cluster.start_worker("gpu")
    cluster.wait_for_workers(2)
    job = Client(cluster.settings).submit([hog, short_videos[0]], "x", scorer="null-benchmark")
    result = cluster.wait_result(job.job_id, timeout=60)
    by_name = {v.video: v for v in result.videos}
    assert by_name[str(hog)].error == f"{hog}: out of memory (MemoryError)"
    assert by_name[str(short_videos[0])].status == VideoState.succeeded
    assert "Unrecoverable error" not in cluster.full_logs()
    assert cpu.alive()

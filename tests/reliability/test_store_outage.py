"""The S3 server goes away for ~10 s mid-job, then comes back with the same data and ports.

Short outages are ridden out inside each S3 call (retries with backoff for
``SEGLOCATE_S3_RETRY_WINDOW_S``); longer ones fail the call with ``StoreUnavailableError`` and
Celery retries the task with exponential backoff. Either way the job completes, each window once.
"""

from __future__ import annotations

import time

import pytest

from common.schemas import JobState
from producer.client import Client
from tests.cluster import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Seconds the store is down.
OUTAGE_S = 10


def run_job_through_an_outage(cluster, s3, long_video, short_videos):
    cluster.start_worker("cpu", concurrency=2)
    cluster.start_worker("gpu")
    cluster.wait_for_workers(2)
    job = Client(cluster.settings).submit(
        [long_video, *short_videos], "x", scorer="null-benchmark", window=5
    )
    store = cluster.store()
    work = cluster.settings.work_bucket

    def scored() -> int:
        return sum("/scores/" in k for k in store.list_keys(work, f"jobs/{job.job_id}/"))

    wait_until(lambda: scored() >= 5, 60, what="5 batches scored")
    s3.stop()
    time.sleep(OUTAGE_S)
    s3.start()
    before = scored()
    assert before < 68, "the job finished before the outage"
    result = cluster.wait_result(job.job_id, timeout=150)
    assert result.status == JobState.succeeded, [v.error for v in result.videos]
    assert {v.video: len(v.windows) for v in result.videos} == {
        str(long_video): 100,
        **{str(p): 12 for p in short_videos},
    }
    for video in result.videos:
        starts = [w.start for w in video.windows]
        assert starts == sorted(set(starts)) and starts[0] == 0.0
    assert scored() == 68
    return result


def test_a_job_rides_out_a_store_outage_inside_its_s3_calls(
    redis, s3_server_factory, make_cluster, long_video, short_videos
):  # the store's fixture first: the workers stop (and flush their heartbeats) before it
    s3 = s3_server_factory()
    cluster = make_cluster(redis.url, s3=s3, s3_retry_window_s=60)
    run_job_through_an_outage(cluster, s3, long_video, short_videos)
    logs = cluster.full_logs()
    assert "S3 " in logs and "retrying in" in logs  # the calls did meet the outage
    assert s3.secret_key not in logs


def test_celery_retries_tasks_with_backoff_when_the_store_stays_down(
    redis, s3_server_factory, make_cluster, long_video, short_videos
):  # the store's fixture first: the workers stop (and flush their heartbeats) before it
    s3 = s3_server_factory()
    cluster = make_cluster(redis.url, s3=s3, s3_retry_window_s=2)
    run_job_through_an_outage(cluster, s3, long_video, short_videos)
    logs = cluster.full_logs()
    retries = [line for line in logs.splitlines() if "Retry in" in line]
    print(f"{len(retries)} task retries, e.g. {retries[:1]}")
    assert retries and "StoreUnavailableError" in retries[0]
    assert s3.secret_key not in logs  # not even in the error messages of the outage

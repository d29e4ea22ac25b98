"""Redis restarted mid-job (no persistence: every queued message is lost).

The store, not Redis, holds the job's state, so the job completes once its missing steps are
re-enqueued: by hand (``seglocate resume JOB``) or by the reconciler in cpu workers. Window
scores stored before the loss are reused, never recomputed: the test overwrites them with a
canary score while the job is stalled, and the canary must come out in the result.
"""

from __future__ import annotations

import time

import pytest

from common import keys
from common.schemas import BatchScores, JobState
from producer.client import Client
from tests.cluster import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Score written over stored batches while the job is stalled (the scorer gives 50).
CANARY_SCORE = 7.0


def batch_keys(cluster, job_id: str) -> list[str]:
    store = cluster.store()
    prefix = keys.job_prefix(job_id) + "videos/"
    return [k for k in store.list_keys(cluster.settings.work_bucket, prefix) if "/scores/" in k]


def wait_until_stalled(cluster, job_id: str, quiet_s: float = 2.5, timeout: float = 30):
    """Stored batches once their list has not changed for ``quiet_s`` seconds."""
    deadline = time.monotonic() + timeout
    last, since = batch_keys(cluster, job_id), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = batch_keys(cluster, job_id)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return now
    raise TimeoutError("the job kept making progress: the broker restart lost nothing")


def plant_canaries(cluster, stored: list[str]) -> dict[str, str]:
    """Overwrite the stored batches' scores with the canary; returns key -> new etag."""
    store = cluster.store()
    work = cluster.settings.work_bucket
    etags = {}
    for key in stored:
        batch = BatchScores.model_validate_json(store.get_bytes(work, key))
        batch.scores = [CANARY_SCORE] * len(batch.scores)
        store.put_bytes(work, key, batch.model_dump_json().encode(), "application/json")
        etags[key] = store.stat(work, key).etag
    return etags


def start_job_and_lose_the_broker(redis, cluster, long_video):
    cluster.start_worker("cpu")
    cluster.start_worker("gpu")
    cluster.wait_for_workers(2)
    job = Client(cluster.settings).submit([long_video], "x", scorer="null-benchmark", window=5)
    wait_until(lambda: len(batch_keys(cluster, job.job_id)) >= 8, 60, what="8 batches scored")
    redis.restart()  # same port, no persistence: queued and unacknowledged messages are gone
    stored = wait_until_stalled(cluster, job.job_id)
    assert 8 <= len(stored) < 50, f"{len(stored)} of 50 batches stored when the broker came back"
    assert cluster.result(job.job_id) is None
    return job, stored


def check_completed_without_rescoring(cluster, job, canaries: dict[str, str]) -> None:
    result = cluster.wait_result(job.job_id, timeout=90)
    assert result.status == JobState.succeeded
    video = result.videos[0]
    starts = [w.start for w in video.windows]
    assert len(video.windows) == 100 and starts == sorted(set(starts))
    canary_windows = sum(w.score == CANARY_SCORE for w in video.windows)
    assert canary_windows == 2 * len(canaries), "a stored batch was scored again"
    assert sum(w.score == 50.0 for w in video.windows) == 100 - canary_windows
    assert cluster.batch_etags(job.job_id) | canaries == cluster.batch_etags(job.job_id)
    assert len(batch_keys(cluster, job.job_id)) == 50


def test_seglocate_resume_finishes_a_job_whose_messages_the_broker_lost(
    redis, make_cluster, long_video
):
    cluster = make_cluster(redis.url, reconcile_interval_s=0, windows_per_task=2)
    job, stored = start_job_and_lose_the_broker(redis, cluster, long_video)
    canaries = plant_canaries(cluster, stored)
    time.sleep(2)
    assert cluster.result(job.job_id) is None, "the job finished without being resumed"

    proc = cluster.cli("resume", job.job_id)
    assert proc.returncode == 0, proc.stderr
    assert f"job {job.job_id}: " in proc.stdout and "re-enqueued" in proc.stdout
    check_completed_without_rescoring(cluster, job, canaries)
    proc = cluster.cli("resume", job.job_id)
    assert proc.stdout.strip() == f"job {job.job_id}: already finished"


def test_the_reconciler_resumes_a_stalled_job_by_itself(redis, make_cluster, long_video):
    cluster = make_cluster(
        redis.url, reconcile_interval_s=1, reconcile_stale_s=8, windows_per_task=2
    )
    job, stored = start_job_and_lose_the_broker(redis, cluster, long_video)
    canaries = plant_canaries(cluster, stored)
    check_completed_without_rescoring(cluster, job, canaries)
    assert f"job {job.job_id} resumed" in cluster.full_logs()

"""Workers SIGKILLed mid-job (gpu solo pool and cpu prefork): the job completes, nothing lost.

Unacknowledged messages of a dead worker come back after the Redis visibility timeout; every
step is idempotent, so each window is scored into the result exactly once. A kill can also lose
a message outright (Redis hands it over with BRPOP before the worker records it as
unacknowledged): the reconciler in cpu workers re-enqueues such work from the stored state.
"""

from __future__ import annotations

import json
import time

import pytest
import redis as redis_client
from kombu.transport.redis import Channel as RedisChannel

from common import keys
from common.celery_config import celery_config
from common.schemas import JobState
from producer.client import Client
from tests.cluster import wait_until
from workers.attempts import AttemptLog

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Seconds before an unacknowledged message of a dead worker is handed out again.
VISIBILITY_TIMEOUT_S = 5


def held_queues(redis_url: str) -> list[str]:
    """Queues of the messages workers hold (delivered, not yet acknowledged)."""
    client = redis_client.Redis.from_url(redis_url)
    try:
        return [json.loads(raw)[2] for raw in client.hvals("unacked")]
    finally:
        client.close()


def working(worker) -> bool:
    """The worker is consuming and has received a task (it is running one, or just did)."""
    text = worker.log_path.read_text(errors="replace")
    return " ready." in text and "] received" in text.split(" ready.", 1)[1]


def deaths_mid_task(cluster, job_id: str) -> dict[str, int]:
    """Task executions that began and never ended (their worker died), per step."""
    store = cluster.store()
    work = cluster.settings.work_bucket
    steps = {
        key.split("/attempts/", 1)[1].split("/", 1)[0]
        for key in store.list_keys(work, keys.job_prefix(job_id) + "attempts/")
    }
    out = {}
    for step_id in steps:
        counts = AttemptLog(store, work, job_id, step_id).counts()
        if counts.deaths:
            out[step_id] = counts.deaths
    return out


def test_job_survives_repeated_sigkill_of_gpu_and_cpu_workers(
    redis, make_cluster, long_video, short_videos
):
    cluster = make_cluster(
        redis.url,
        visibility_timeout_s=VISIBILITY_TIMEOUT_S,
        windows_per_task=2,
        reconcile_interval_s=1,
        reconcile_stale_s=5,
        max_redeliveries=10,
    )
    concurrency = {"cpu": 2, "gpu": 1}
    workers = {q: cluster.start_worker(q, concurrency=n) for q, n in concurrency.items()}
    cluster.wait_for_workers(2)
    videos = [long_video, *short_videos]
    job = Client(cluster.settings).submit(videos, "anything", scorer="null-benchmark", window=5)

    kills = {"cpu": 0, "gpu": 0}
    for queue in ["cpu", "gpu", "gpu", "cpu", "gpu", "cpu", "gpu"]:
        try:  # strike once this worker has taken work: it dies with a task in hand
            wait_until(lambda q=queue: working(workers[q]), 20, 0.02, f"{queue} worker busy")
        except TimeoutError:
            continue
        if cluster.result(job.job_id) is not None:
            break
        workers[queue].kill()  # SIGKILL the whole process group, pool children included
        kills[queue] += 1
        workers[queue] = cluster.start_worker(queue, concurrency=concurrency[queue])
    print(f"kills of working workers: {kills}")
    assert kills["cpu"] >= 2 and kills["gpu"] >= 2

    result = cluster.wait_result(job.job_id, timeout=120)
    deaths = deaths_mid_task(cluster, job.job_id)
    resumed = f"job {job.job_id} resumed" in cluster.full_logs()
    print(f"executions cut short, then redone: {deaths}; reconciler resumed the job: {resumed}")
    assert deaths, "no kill landed in the middle of a task"
    assert result.status == JobState.succeeded, [v.error for v in result.videos]
    expected = {str(long_video): 100, **{str(p): 12 for p in short_videos}}
    assert {v.video: len(v.windows) for v in result.videos} == expected
    for video in result.videos:
        starts = [w.start for w in video.windows]
        assert starts == sorted(set(starts)), f"{video.video}: duplicate or unordered windows"
        assert starts[0] == 0.0 and video.windows[-1].end == pytest.approx(video.duration)
        assert all(w.score == 50.0 for w in video.windows)
    status = job.status()
    assert status.state == JobState.succeeded
    assert status.windows_done == status.windows_total == 136
    assert all(w.alive() for w in workers.values())


@pytest.mark.parametrize("sweeper_killed", [False, True], ids=["plain", "sweep-lock-left"])
def test_a_message_held_by_a_killed_worker_comes_back_after_the_visibility_timeout(
    redis, make_cluster, long_video, sweeper_killed
):
    """Regressions: kombu swept for lost messages only every ~100 s by default, and a worker
    killed inside a sweep left its lock behind for 300 s, blocking every later sweep."""
    cluster = make_cluster(
        redis.url, visibility_timeout_s=VISIBILITY_TIMEOUT_S, reconcile_interval_s=0
    )
    cluster.start_worker("cpu")
    gpu = cluster.start_worker("gpu")
    cluster.wait_for_workers(2)
    job = Client(cluster.settings).submit([long_video], "x", scorer="null-benchmark", window=5)
    wait_until(
        lambda: "gpu.null-benchmark" in held_queues(redis.url), 30, 0.01, "a gpu message held"
    )
    gpu.kill()
    killed_at = time.monotonic()
    if sweeper_killed:  # the sweep lock a worker of this deployment leaves when SIGKILLed
        options = celery_config(cluster.settings)["broker_transport_options"]
        ttl = options.get("unacked_mutex_expire", RedisChannel.unacked_mutex_expire)
        client = redis_client.Redis.from_url(redis.url)
        client.set("unacked_mutex", "killed-sweeper", ex=ttl)
        client.close()
    cluster.start_worker("gpu")  # the replacement starts at once, before the timeout expires
    result = cluster.wait_result(job.job_id, timeout=120)
    took = time.monotonic() - killed_at
    print(f"completed {took:.1f}s after the kill")
    assert result.status == JobState.succeeded
    assert len(result.videos[0].windows) == 100
    assert took < VISIBILITY_TIMEOUT_S + 10

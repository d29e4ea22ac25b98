"""SIGTERM to a gpu worker in the middle of a batch: the batch finishes if it can within
``SEGLOCATE_SHUTDOWN_GRACE_S``, else it is handed back to the broker; the worker exits 0; the
job's result is complete and every window is scored and counted once (issue 14).

Workers are started as operators start them, ``seglocate worker --queues gpu``, and the signal
goes to that process only, as Kubernetes sends it to a container's PID 1. The broker's
visibility timeout stays at an hour and the reconciler is off, so only a hand back can bring
an interrupted batch's message back in time.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis as redis_client

from common.heartbeat import worker_records
from common.schemas import JobState
from producer.client import Client
from tests.cluster import REPO_ROOT, wait_until
from tests.reliability.test_worker_death import deaths_mid_task

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GPU_QUEUE = "gpu.null-benchmark"
BATCH_RECEIVED = re.compile(r"Task seglocate\.score_batch\[[^\]]+\] received")


class Launcher:
    """``seglocate worker --queues gpu`` with its own settings, logging to a file."""

    def __init__(self, cluster, name: str, **settings: object) -> None:
        self.log_path: Path = cluster.workdir / f"worker-{name}.log"
        env = {**cluster.env, "PYTHONPATH": str(REPO_ROOT)}
        env.update({f"SEGLOCATE_{k.upper()}": str(v) for k, v in settings.items()})
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "producer.cli", "worker", "--queues", "gpu"],
                env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def celery_pid(self) -> int:
        """The pid of the one Celery worker this launcher started (from its log)."""
        return int(re.findall(r"pid (\d+) loaded scorer", self.log())[0])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_a_batch(self) -> None:
        wait_until(lambda: BATCH_RECEIVED.search(self.log()), 60, 0.05, "a batch received")

    def terminate(self) -> tuple[int, float]:
        """SIGTERM to this process alone; (exit code, seconds it took to exit)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        return code, time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL the launcher's process group (its workers too), whatever is left of it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def scored_batches(cluster, job_id: str) -> int:
    store = cluster.store()
    prefix = f"jobs/{job_id}/videos/"
    return sum(
        1 for key in store.list_keys(cluster.settings.work_bucket, prefix) if "/scores/" in key
    )


def test_sigterm_mid_batch_finishes_or_hands_back_and_the_job_is_complete(
    redis, make_cluster, short_videos
):
    cluster = make_cluster(redis.url, reconcile_interval_s=0, windows_per_task=2)
    cluster.start_worker("cpu")
    slow_but_in_time = Launcher(cluster, "gpu-a", fault_slow_scoring_s=2, shutdown_grace_s=60)
    launchers = [slow_but_in_time]
    try:
        cluster.wait_for_workers(2)
        job = Client(cluster.settings).submit(
            [short_videos[0]], "x", scorer="null-benchmark", window=5
        )
        batches = 6  # 60 s: 12 windows of 5 s, 2 per batch

        # A batch that can finish within the grace finishes, and the worker exits 0 at once.
        slow_but_in_time.wait_for_a_batch()
        code, took = slow_but_in_time.terminate()
        assert code == 0, slow_but_in_time.log()[-3000:]
        assert took < 20, f"took {took:.1f}s: it waited for more than its batch"
        assert "handed back" not in slow_but_in_time.log()
        print(f"batch finished within the grace: exit 0 {took:.1f}s after SIGTERM")
        finished_first = scored_batches(cluster, job.job_id)
        assert finished_first >= 1

        # A batch that cannot is handed back when the grace has passed.
        too_slow = Launcher(cluster, "gpu-b", fault_slow_scoring_s=600, shutdown_grace_s=1)
        launchers.append(too_slow)
        too_slow.wait_for_a_batch()
        code, took = too_slow.terminate()
        assert code == 0, too_slow.log()[-3000:]
        assert 1 <= took < 20
        print(f"batch handed back after a 1 s grace: exit 0 {took:.1f}s after SIGTERM")
        assert "handed back: the worker is shutting down" in too_slow.log()
        client = redis_client.Redis.from_url(redis.url)
        assert client.hlen("unacked") == 0  # nothing held by a worker that is gone
        assert client.llen(GPU_QUEUE) == batches - finished_first  # the batch is back
        client.close()
        assert scored_batches(cluster, job.job_id) == finished_first

        cluster.start_worker("gpu")
        result = cluster.wait_result(job.job_id, timeout=60)
    finally:
        for launcher in launchers:
            launcher.kill()
    assert result.status == JobState.succeeded
    (video,) = result.videos
    starts = [w.start for w in video.windows]
    assert starts == [5.0 * i for i in range(12)] and all(w.score == 50.0 for w in video.windows)
    assert deaths_mid_task(cluster, job.job_id) == {}  # handed back, not died

    def windows_scored_by_worker() -> dict[int, int]:
        records = worker_records(cluster.store(), cluster.settings.work_bucket)
        return {r.pid: r.windows_scored for r in records if r.scorer == "null-benchmark"}

    # Every window counted once over the three workers (the last one's record is written
    # within a second of its last batch).
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: sum(windows_scored_by_worker().values()) >= 12, 10, 0.2, "records")
    scored = windows_scored_by_worker()
    assert len(scored) == 3 and sum(scored.values()) == 12, scored
    assert scored[slow_but_in_time.celery_pid()] == 2 * finished_first
    assert scored[too_slow.celery_pid()] == 0


def test_a_prefork_pool_hands_back_the_steps_of_all_its_processes(
    redis, make_cluster, short_videos
):
    """The hand-back signal goes to each pool process running a step; both batches go back to
    the queue, the main process exits 0, nothing is recorded as a worker death."""
    cluster = make_cluster(redis.url, reconcile_interval_s=0, windows_per_task=2)
    cluster.start_worker("cpu")
    log_path = cluster.workdir / "worker-prefork-gpu.log"
    env = {
        **cluster.env, "SEGLOCATE_WORKER_QUEUES": "gpu", "SEGLOCATE_FAULT_SLOW_SCORING_S": "600",
        "SEGLOCATE_SHUTDOWN_GRACE_S": "1",
    }  # fmt: skip
    with open(log_path, "ab") as log:
        pool = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
             "-Q", GPU_QUEUE, "-n", "prefork-gpu@%h", "--pool", "prefork", "--concurrency", "2",
             "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
            env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    client = redis_client.Redis.from_url(redis.url)
    try:
        cluster.wait_for_workers(3)
        job = Client(cluster.settings).submit(
            [short_videos[1]], "x", scorer="null-benchmark", window=5
        )
        wait_until(
            lambda: len(BATCH_RECEIVED.findall(log_path.read_text())) >= 2
            and client.hlen("unacked") >= 2,
            60, 0.05, "both pool processes in a batch",
        )  # fmt: skip
        pool.send_signal(signal.SIGTERM)  # the main process only
        assert pool.wait(timeout=30) == 0
        assert log_path.read_text().count("handed back: the worker is shutting down") == 2
        assert client.hlen("unacked") == 0 and client.llen(GPU_QUEUE) == 6
        cluster.start_worker("gpu")
        result = cluster.wait_result(job.job_id, timeout=60)
    finally:
        client.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pool.pid, signal.SIGKILL)
        pool.wait()
    assert result.status == JobState.succeeded and len(result.videos[0].windows) == 12
    assert deaths_mid_task(cluster, job.job_id) == {}

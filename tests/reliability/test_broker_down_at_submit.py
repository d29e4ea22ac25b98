"""Submitting while the broker is down, frozen, or refusing messages: one line, at once, and
no ghost job left for a reconciler to run behind the user's back.

Regressions: a refused connection printed a 121-line traceback after the spec was written (the
reconciler later ran that job), and a frozen Redis hung ``submit`` with no output.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from common import keys
from common.schemas import JobState
from infra.services import free_port
from tests import media

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def job_objects(cluster) -> set[str]:
    store = cluster.store()
    work = cluster.settings.work_bucket
    return set(store.list_keys(work, "jobs/")) | set(store.list_keys(work, keys.ACTIVE_PREFIX))


@pytest.fixture
def clip(tmp_path):
    return media.testsrc_clip(tmp_path / "clip.mp4", 2, fps=5, size="160x90")


def test_a_refused_broker_is_one_line_and_writes_no_job(make_cluster, clip):
    port = free_port()  # nothing listens here
    cluster = make_cluster(f"redis://127.0.0.1:{port}/0")
    before = job_objects(cluster)
    started = time.monotonic()
    proc = cluster.cli("submit", str(clip), "--query", "x", "--scorer", "null-benchmark")
    took = time.monotonic() - started
    assert proc.returncode == 2
    assert proc.stderr == (
        f"seglocate: error: broker redis://127.0.0.1:{port}/0: "
        "connection refused (is redis-server running?)\n"
    )
    assert proc.stdout == ""
    assert job_objects(cluster) == before, "a ghost job was written"
    assert took < 20


def test_a_frozen_broker_times_out_in_one_line(redis_server_factory, make_cluster, clip):
    frozen = redis_server_factory()
    cluster = make_cluster(frozen.url)
    before = job_objects(cluster)
    os.kill(frozen.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        proc = cluster.cli("submit", str(clip), "--query", "x", "--scorer", "null-benchmark")
        took = time.monotonic() - started
    finally:
        os.kill(frozen.pid, signal.SIGCONT)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "did not answer in time" in proc.stderr
    assert job_objects(cluster) == before
    assert took < 30, f"submit hung for {took:.0f}s"


def test_a_job_whose_tasks_cannot_be_published_ends_failed_not_ghost(
    redis_server_factory, make_cluster, clip
):
    # The broker answers PING but refuses to queue anything (an ACL without LPUSH).
    broker = redis_server_factory(extra_config={"user": "default on nopass ~* &* +@all -lpush"})
    cluster = make_cluster(broker.url, reconcile_interval_s=1, reconcile_stale_s=1)
    proc = cluster.cli("submit", str(clip), "--query", "x", "--scorer", "null-benchmark")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "its tasks could not be enqueued" in proc.stderr
    job_id = proc.stderr.split("job ", 1)[1].split(":", 1)[0]
    result = cluster.result(job_id)
    assert result is not None and result.status == JobState.failed
    assert "could not be enqueued" in (result.error or "")
    store = cluster.store()
    assert not store.exists(cluster.settings.work_bucket, keys.active_job(job_id))
    status = cluster.cli("status", job_id)
    assert status.stdout.startswith(f"job {job_id}: failed")

"""What an operator sees: worker log lines of a job's work carry ``job=<id>``, and
``seglocate status JOB`` prints each failed video with its reason."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from common.schemas import JobState
from producer.client import Client
from tests import media

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Loggers of our own code; Celery's per-task lines come from ``celery.app.trace``.
OUR_LOGGERS = re.compile(r" (producer|workers|common)\.[\w.]+: ")


def test_work_log_lines_carry_the_job_id_and_status_prints_failures(
    redis, make_cluster, short_videos, tmp_path
):
    cluster = make_cluster(redis.url)
    cluster.start_worker("cpu", concurrency=2)
    cluster.start_worker("gpu")
    cluster.wait_for_workers(2)
    bad = media.audio_only(tmp_path / "podcast.m4a")
    submitted = datetime.now().strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
    job = Client(cluster.settings).submit(
        [short_videos[0], bad], "x", scorer="null-benchmark", window=5
    )
    assert cluster.wait_result(job.job_id, timeout=60).status == JobState.partial

    # Lines logged since the submission (the gpu worker logs its scorer load at start, job=-).
    lines = [line for line in cluster.full_logs().splitlines() if line[:23] >= submitted]
    ours = [line for line in lines if OUR_LOGGERS.search(line)]
    traced = [line for line in lines if "celery.app.trace: Task seglocate." in line]
    received = [line for line in lines if "] received" in line and "Task seglocate." in line]
    assert ours and traced and received
    for line in ours + traced + received:
        assert f" job={job.job_id} " in line, f"no job id on a line of work: {line}"
    failure = next(line for line in ours if "failed:" in line)
    assert f"job={job.job_id} video=1 " in failure and "audio only" in failure
    assert any("seglocate.score_batch" in line and "succeeded" in line for line in traced)

    proc = cluster.cli("status", job.job_id)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[0] == f"job {job.job_id}: partial, windows 12/12"
    assert any(line.split()[0] == "succeeded" and str(short_videos[0]) in line for line in out)
    (failed,) = [line for line in out if line.split()[0] == "failed"]
    assert f"error: {bad}: audio only: the file has no video stream" in failed

"""Distributed mode against real servers: redis-server, SeaweedFS S3 and `celery worker`s."""

from __future__ import annotations

import time

import pytest

from common.errors import InvalidInputError
from common.heartbeat import live_workers
from common.schemas import JobResult, JobState, VideoState
from common.storage import open_store
from producer.client import Client
from producer.sample_lecture import Slide, make_lecture
from tests import media
from tests.cluster import Cluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Five short "course" lectures; only lecture 3 shows the queried slide.
COURSE = [
    [Slide(f"Lecture {n} Introduction", ("Overview of today", "Reading list"), 8),
     Slide(title, ("Key points of the topic", "Worked example"), 8)]
    for n, title in enumerate(
        [
            "Vector Addition", "Projectile Motion", "Circular Motion",
            "Conservation of Momentum", "Simple Harmonic Oscillator",
        ],
        start=1,
    )
]  # fmt: skip


@pytest.fixture(scope="module")
def cluster(redis_server, s3_server, tmp_path_factory):
    cluster = Cluster(redis_server.url, s3_server, tmp_path_factory.mktemp("cluster"))
    cluster.start_worker("cpu", concurrency=1)
    cluster.start_worker("gpu")
    cluster.wait_for_workers(2)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def course(cluster, tmp_path_factory):
    """Five lectures uploaded under ``course/`` in the videos bucket."""
    folder = tmp_path_factory.mktemp("course")
    store = open_store(cluster.settings)
    for n, slides in enumerate(COURSE, start=1):
        path = folder / f"lecture{n}.mp4"
        make_lecture(path, slides, size=(640, 360))
        store.put_file(cluster.settings.videos_bucket, f"course/lecture{n}.mp4", path)
    return folder


def test_a_job_submitted_through_the_client_lands_in_the_results_bucket(cluster, lecture):
    path, spans = lecture
    job = Client(cluster.settings).submit([path], "free-body diagram", top_k=3)
    result = cluster.wait_result(job.job_id, timeout=240)
    assert result.status == JobState.succeeded
    truth = next(s for s in spans if s.title == "Free-Body Diagrams")
    top = result.clips[0]
    assert top.start < truth.end and top.end > truth.start
    assert top.video == str(path) and 0 <= top.score <= 100
    status = job.status()
    assert status.state == JobState.succeeded
    assert status.windows_done == status.windows_total == len(result.videos[0].windows) > 0


def test_the_same_input_gives_the_same_clips_embedded_and_distributed(
    cluster, lecture, embedded_settings
):
    path, _ = lecture
    distributed = (
        Client(cluster.settings).submit([path], "Newton's second law", top_k=3).wait(timeout=240)
    )
    embedded = (
        Client(embedded_settings)
        .submit([path], "Newton's second law", top_k=3, scorer="ocr")
        .wait(timeout=240)
    )
    as_tuples = lambda r: [(c.start, c.end, c.score, c.rank) for c in r.clips]  # noqa: E731
    assert as_tuples(distributed) == as_tuples(embedded)
    assert [w.score for w in distributed.videos[0].windows] == [
        w.score for w in embedded.videos[0].windows
    ]


def test_something_only_said_is_found_by_the_workers_as_embedded(
    cluster, narrated_lecture, embedded_settings
):
    path, lecture = narrated_lecture
    query = "Einstein published special relativity in 1905"
    distributed = Client(cluster.settings).submit([path], query, top_k=2).wait(timeout=240)
    top = distributed.clips[0]
    said = lecture.spoken[1]
    assert top.signal == "speech"
    assert abs(top.start - said.start) <= 1.0 and abs(top.end - said.end) <= 1.0
    embedded = Client(embedded_settings).submit([path], query, top_k=2).wait(timeout=240)
    as_tuples = lambda r: [(c.start, c.end, c.score, c.signal) for c in r.clips]  # noqa: E731
    assert as_tuples(distributed) == as_tuples(embedded)
    assert distributed.videos[0].speech == embedded.videos[0].speech


def test_a_course_library_prefix_reports_every_video_and_ranks_across_them(cluster, course):
    client = Client(cluster.settings)
    started = time.perf_counter()
    job = client.submit(["course/"], "circular motion", top_k=3)
    result = job.wait(timeout=300, progress=False)
    print(f"5-video library job: {time.perf_counter() - started:.1f}s")
    assert result.status == JobState.succeeded
    assert sorted(v.video for v in result.videos) == [f"course/lecture{n}.mp4" for n in range(1, 6)]
    assert all(v.status == VideoState.succeeded and v.windows for v in result.videos)
    assert result.clips[0].video == "course/lecture3.mp4"
    scores = [c.score for c in result.clips]
    assert scores == sorted(scores, reverse=True)


def test_a_second_job_on_the_same_videos_reuses_the_stored_frames(cluster, course):
    settings = cluster.settings
    store = open_store(settings)
    client = Client(settings)
    client.submit(["course/*.mp4"], "projectile motion").wait(timeout=300)
    frames_before = {
        k: store.stat(settings.work_bucket, k).etag
        for k in store.list_keys(settings.work_bucket, "frames/")
    }
    features_before = {
        k: store.stat(settings.work_bucket, k).etag
        for k in store.list_keys(settings.work_bucket, "features/")
    }
    result = client.submit(["course/*.mp4"], "vector addition").wait(timeout=300)
    assert result.clips[0].video == "course/lecture1.mp4"
    frames_after = {
        k: store.stat(settings.work_bucket, k).etag
        for k in store.list_keys(settings.work_bucket, "frames/")
    }
    features_after = {
        k: store.stat(settings.work_bucket, k).etag
        for k in store.list_keys(settings.work_bucket, "features/")
    }
    assert sum(k.endswith("manifest.json") for k in frames_before) >= 5
    assert frames_after == frames_before  # no frame written again: nothing was decoded
    assert features_after == features_before  # no OCR run again


def test_each_worker_process_loads_its_scorer_once_across_many_tasks(cluster, course):
    store = open_store(cluster.settings)
    Client(cluster.settings).submit(["course/"], "momentum").wait(timeout=300)
    time.sleep(1.5)  # one heartbeat interval
    gpu = [w for w in live_workers(store, cluster.settings.work_bucket) if "gpu" in w.queues]
    assert len(gpu) == 1
    assert gpu[0].tasks_done >= 10
    assert gpu[0].scorer_loads == 1


def test_a_job_for_a_scorer_no_worker_serves_fails_fast(cluster, lecture):
    path, _ = lecture
    with pytest.raises(InvalidInputError, match="no live worker serves it"):
        Client(cluster.settings).submit([path], "x", scorer="null-benchmark")


def run_cli(cluster, *args: str):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "producer.cli", *args],
        capture_output=True,
        text=True,
        env=cluster.env,
        timeout=300,
    )


def test_cli_submit_status_results_and_locate_use_the_broker(cluster, lecture, tmp_path):
    path, _ = lecture
    submitted = run_cli(cluster, "submit", str(path), "--query", "元素周期表")
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    cluster.wait_result(job_id, timeout=240)
    status = run_cli(cluster, "status", job_id)
    assert status.returncode == 0 and f"job {job_id}: succeeded" in status.stdout
    out = tmp_path / "r.json"
    results = run_cli(cluster, "results", job_id, "--json", str(out))
    assert results.returncode == 0 and results.stdout.splitlines()[2].split()[0] == "1"
    assert JobResult.model_validate_json(out.read_text()).job_id == job_id
    located = run_cli(cluster, "locate", str(path), "--query", "free-body diagram", "--no-progress")
    assert located.returncode == 0, located.stderr
    assert "s3://" in located.stdout and "succeeded" in located.stdout.splitlines()[0]


def test_gpu_workers_of_different_scorers_share_one_broker(
    redis_server_factory, s3_server, tmp_path
):
    """Each scoring step goes to its job's ``gpu.<scorer>`` queue: a mixed fleet never mixes."""
    other = Cluster(redis_server_factory().url, s3_server, tmp_path)
    try:
        other.start_worker("cpu")
        other.start_worker("gpu")  # serves ocr
        other.start_worker("gpu", SEGLOCATE_SCORER="null-benchmark")
        other.wait_for_workers(3)
        clip = media.testsrc_clip(tmp_path / "clip.mp4", 12, size="160x90")
        client = Client(other.settings)
        jobs = [client.submit([clip], "x", scorer=name) for name in ("null-benchmark", "ocr") * 2]
        results = [other.wait_result(job.job_id, timeout=120) for job in jobs]
    finally:
        other.stop()
    assert [r.status for r in results] == [JobState.succeeded] * 4
    assert [r.scorer.name for r in results] == ["null-benchmark", "text"] * 2
    assert {w.score for w in results[0].videos[0].windows} == {50.0}

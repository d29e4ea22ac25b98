"""A real Prometheus scrapes a real worker cluster during a job (issue 14).

One cluster for the module: a prefork cpu worker with 2 processes started as operators start
it (``seglocate worker``, which serves one ``/metrics`` for all its processes and, being a cpu
worker, the fleet gauges) and, later, a solo gpu worker started by Celery directly (its main
process serves its own metrics). The job is submitted while no gpu worker runs, so its scoring
waits in the ``gpu.null-benchmark`` queue: the queue depth and the windows waiting are known
exactly, then the gpu worker starts and the job completes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from common.errors import InvalidInputError
from common.frames import read_manifest
from common.heartbeat import worker_records
from common.jobstate import JobStore
from common.schemas import JobResult, JobState
from infra.services import PrometheusServer, RedisServer, free_port
from producer.client import Client
from tests import media
from tests.cluster import REPO_ROOT, Cluster, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GPU_QUEUE = "gpu.null-benchmark"
VIDEOS = 3
#: Each clip is 30 s: 6 windows of 5 s, 3 batches of 2 windows.
WINDOWS_PER_VIDEO = 6
DASHBOARD = REPO_ROOT / "infra" / "grafana" / "dashboards" / "seglocate.json"
#: Exported only where NVML finds an NVIDIA driver (none on CI machines).
NVML_ONLY = {"seglocate_gpu_memory_used_bytes", "seglocate_gpu_memory_total_bytes"}


@dataclass
class Monitored:
    cluster: Cluster
    prometheus: PrometheusServer
    launcher: subprocess.Popen
    cpu_port: int
    gpu_port: int
    #: What was seen while the job waited for a gpu worker, then after it finished.
    waiting: dict[str, object] = field(default_factory=dict)
    finished: dict[str, float | None] = field(default_factory=dict)
    result: JobResult | None = None
    job_id: str = ""
    videos: list[Path] = field(default_factory=list)


def cli(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "producer.cli", *args],
        env={**cluster.env, "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "120"},
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    """One scrape of a worker's endpoint: (sample name, sorted labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def steps(step: str, outcome: str = "ok") -> str:
    return f'sum(seglocate_steps_total{{step="{step}",outcome="{outcome}"}})'


#: Prometheus queries read once the job is done, and the value each must reach.
FINISHED_QUERIES = {
    "score_batch": steps("score_batch"),
    "ingest_video": steps("ingest_video"),
    "prepare_video": steps("prepare_video"),
    "refine_video": steps("refine_video"),
    "aggregate_video": steps("aggregate_video"),
    "windows_scored": 'sum(seglocate_windows_scored_total{scorer="null-benchmark"})',
    "frames_decoded": "sum(seglocate_frames_decoded_total)",
    "queue": f'max(seglocate_queue_messages{{queue="{GPU_QUEUE}"}})',
    "windows_waiting": 'max(seglocate_windows_waiting{scorer="null-benchmark"})',
    "jobs_running": 'max(seglocate_jobs{state="running"})',
    "failed": 'sum(seglocate_steps_total{outcome="failed"}) or vector(0)',
}


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory, s3_server) -> Iterator[Monitored]:
    workdir = tmp_path_factory.mktemp("monitoring")
    with RedisServer(workdir / "redis") as redis:
        cluster = Cluster(
            redis.url, s3_server, workdir, scorer="null-benchmark", windows_per_task=2,
            metrics_fleet_interval_s=1, reconcile_interval_s=0,
        )  # fmt: skip
        cpu_port, gpu_port = free_port(), free_port()
        log = open(workdir / "worker-launcher-cpu.log", "ab")  # noqa: SIM115 - closed below
        launcher = subprocess.Popen(
            [sys.executable, "-m", "producer.cli", "worker", "--queues", "cpu",
             "--concurrency", "2"],
            env={**cluster.env, "SEGLOCATE_METRICS_PORT": str(cpu_port),
                 "PYTHONPATH": str(REPO_ROOT)},
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        targets = [f"127.0.0.1:{cpu_port}", f"127.0.0.1:{gpu_port}"]
        prometheus = PrometheusServer(workdir / "prometheus", targets, scrape_interval_s=1.0)
        monitored = Monitored(cluster, prometheus.start(), launcher, cpu_port, gpu_port)
        try:
            run_the_job(monitored, workdir)
            yield monitored
        finally:
            with contextlib.suppress(ProcessLookupError):  # the launcher's group: its workers too
                os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
            cluster.stop()
            prometheus.stop()
            log.close()


def run_the_job(m: Monitored, workdir: Path) -> None:
    cluster, prom = m.cluster, m.prometheus
    cluster.wait_for_workers(2)  # the two prefork processes of the cpu worker
    videos = [
        media.colour_clip(workdir / f"clip-{c}.mp4", c, 30, fps=2) for c in ("red", "lime", "blue")
    ]
    job = Client(cluster.settings).submit(videos, "anything", scorer="null-benchmark", window=5)
    m.job_id, m.videos = job.job_id, videos
    queued = f'max(seglocate_queue_messages{{queue="{GPU_QUEUE}"}})'
    waiting = 'max(seglocate_windows_waiting{scorer="null-benchmark"})'
    try:
        wait_until(
            lambda: prom.value(queued) == VIDEOS
            and prom.value(waiting) == VIDEOS * WINDOWS_PER_VIDEO,
            60, 0.5, "Prometheus to see the job waiting for a gpu worker",
        )  # fmt: skip
    finally:
        m.waiting = {
            "prometheus_queue": prom.value(queued),
            "prometheus_windows_waiting": prom.value(waiting),
            "prometheus_jobs_running": prom.value('max(seglocate_jobs{state="running"})'),
            "prometheus_videos_scoring": prom.value('max(seglocate_videos{state="scoring"})'),
            "status": job.status(),
            "queue_depth_cli": cli(cluster, "queue-depth", "--queue", GPU_QUEUE),
            "queue_table_cli": cli(cluster, "queue-depth"),
            "stats_cli": cli(cluster, "stats"),
        }
    cluster.start_worker("gpu", SEGLOCATE_METRICS_PORT=str(m.gpu_port))
    m.result = cluster.wait_result(job.job_id, timeout=90)
    done = {
        "score_batch": VIDEOS * 3, "ingest_video": VIDEOS, "prepare_video": VIDEOS,
        "refine_video": VIDEOS, "aggregate_video": VIDEOS,
        "windows_scored": VIDEOS * WINDOWS_PER_VIDEO, "queue": 0, "windows_waiting": 0,
        "jobs_running": 0,
    }  # fmt: skip

    def read() -> dict[str, float | None]:
        return {name: prom.value(expr) for name, expr in FINISHED_QUERIES.items()}

    with contextlib.suppress(TimeoutError):  # the tests below say which count differs
        wait_until(lambda: all(read()[k] == v for k, v in done.items()), 30, 0.5, "final counts")
    m.finished = read()


def test_prometheus_reports_the_queue_depth_and_windows_waiting_of_a_waiting_job(monitored):
    seen = monitored.waiting
    status = seen["status"]
    assert status.windows_total == VIDEOS * WINDOWS_PER_VIDEO and status.windows_done == 0
    assert seen["prometheus_queue"] == VIDEOS  # one prepare_video message per video
    assert seen["prometheus_windows_waiting"] == status.windows_total
    assert seen["prometheus_jobs_running"] == 1
    assert seen["prometheus_videos_scoring"] == VIDEOS
    depth = seen["queue_depth_cli"]
    assert depth.returncode == 0, depth.stderr
    assert depth.stdout.strip() == str(VIDEOS)
    table = seen["queue_table_cli"].stdout
    assert re.search(rf"^{re.escape(GPU_QUEUE)}\s+{VIDEOS}\s+{status.windows_total}$", table, re.M)


def test_stats_screen_shows_the_waiting_job_and_the_workers(monitored):
    stats = monitored.waiting["stats_cli"]
    assert stats.returncode == 0, stats.stderr
    text = stats.stdout
    assert re.search(rf"{re.escape(GPU_QUEUE)}\s*│\s*{VIDEOS}\s*│\s*18\s*│\s*0", text), text
    assert re.search(r"\bcpu\s*│\s*0\s*│\s*│\s*2", text), text  # two live cpu processes
    assert "Active jobs: running 1" in text
    assert re.search(rf"{monitored.job_id}\s*│\s*running\s*│\s*null-benchmark\s*│\s*0/3\s*│"
                     r"\s*0/18\s*│\s*-", text), text  # fmt: skip


def test_prometheus_counts_match_the_finished_job(monitored):
    result = monitored.result
    assert result is not None and result.status == "succeeded"
    windows = sum(len(video.windows) for video in result.videos)
    store = monitored.cluster.store()
    settings = monitored.cluster.settings
    jobs = JobStore(store, settings.work_bucket, settings.results_bucket)
    records = [jobs.stored_record(monitored.job_id, i) for i in range(VIDEOS)]
    batches = sum(len(r.batches) for r in records)
    frames = sum(
        len(read_manifest(store, settings.work_bucket, r.content_hash, r.sampling_id).frame_times)
        for r in records
    )
    assert monitored.finished == {
        "score_batch": batches,
        "ingest_video": VIDEOS,
        "prepare_video": VIDEOS,
        "refine_video": VIDEOS,
        "aggregate_video": VIDEOS,
        "windows_scored": windows,
        "frames_decoded": frames,
        "queue": 0,
        "windows_waiting": 0,
        "jobs_running": 0,
        "failed": 0,
    }
    assert windows == VIDEOS * WINDOWS_PER_VIDEO


def test_a_prefork_worker_reports_the_totals_of_both_its_processes(monitored):
    cluster = monitored.cluster
    cpu = [
        r for r in worker_records(cluster.store(), cluster.settings.work_bucket)
        if r.queues == ["cpu"]
    ]  # fmt: skip
    assert len({r.pid for r in cpu}) == 2
    tasks = {r.pid: r.tasks_done for r in cpu}
    assert all(n > 0 for n in tasks.values()), f"one process did no task: {tasks}"

    def steps_on_endpoint() -> float:
        return sum(
            v
            for (name, _), v in scrape(monitored.cpu_port).items()
            if name == "seglocate_steps_total"
        )

    wait_until(lambda: steps_on_endpoint() == sum(tasks.values()), 10, 0.5, "heartbeats")
    scraped = scrape(monitored.cpu_port)
    assert scraped[("seglocate_worker_processes", (("queue", "cpu"), ("scorer", "")))] == 2


def test_dashboard_uses_only_metrics_the_cluster_exports_and_its_queries_run(monitored):
    prom = monitored.prometheus
    board = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    used = {name for expr in exprs for name in re.findall(r"\bseglocate_\w+", expr)}
    scraped = prom.metric_names()
    assert used - scraped == NVML_ONLY  # GPU memory: no NVIDIA driver on this machine
    for expr in exprs:  # Prometheus parses every panel's query
        prom.query(expr.replace("$__rate_interval", "1m"))


def test_the_launcher_stops_gracefully_on_sigterm(monitored):
    launcher = monitored.launcher
    launcher.send_signal(signal.SIGTERM)  # to the launcher only, as Kubernetes does to PID 1
    assert launcher.wait(timeout=60) == 0
    with pytest.raises(OSError):  # its metrics endpoint went with it
        scrape(monitored.cpu_port)


def test_jobs_for_an_autoscaled_scorer_are_accepted_while_none_of_its_workers_runs(monitored):
    """Scale-to-zero: a live gpu worker serves null-benchmark only; a job for ``ocr`` is
    refused, unless ocr workers are started on demand (SEGLOCATE_AUTOSCALED_SCORERS)."""
    settings = monitored.cluster.settings
    video = monitored.videos[0]
    with pytest.raises(InvalidInputError, match="no live worker serves it"):
        Client(settings).submit([video], "x", scorer="ocr")
    autoscaled = settings.model_copy(update={"autoscaled_scorers": "qwen3-vl, ocr"})
    job = Client(autoscaled).submit([video], "x", scorer="ocr")
    assert job.status().state == JobState.queued

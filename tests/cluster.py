"""A real distributed deployment for tests: Redis, SeaweedFS and `celery worker` processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from common import keys
from common.heartbeat import live_workers
from common.pipeline import broker_queues
from common.schemas import JobResult
from common.settings import Settings
from common.storage import ObjectStore, open_store, read_model_or_none

REPO_ROOT = Path(__file__).resolve().parent.parent


class WorkerProcess:
    """One ``celery worker`` process group serving ``queues`` (solo pool when it serves gpu)."""

    def __init__(
        self, env: dict[str, str], queues: str, log_path: Path, concurrency: int = 1
    ) -> None:
        self.env = env
        self.queues = queues
        self.log_path = log_path
        self.concurrency = concurrency
        self.proc: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        pool = (
            ["--pool", "solo"]
            if "gpu" in self.queues
            else ["--pool", "prefork", "--concurrency", str(self.concurrency)]
        )
        name = f"{self.queues.replace(',', '-')}-{uuid.uuid4().hex[:6]}@%h"
        scorer = self.env.get("SEGLOCATE_SCORER", "ocr")
        cmd = [
            sys.executable, "-m", "celery",
            "-A", "workers.celery_app", "worker",
            "-Q", ",".join(broker_queues(self.queues.split(","), scorer)),
            "-n", name, "--loglevel", "INFO",
            "--without-gossip", "--without-mingle",
            *pool,
        ]  # fmt: skip
        env = {**self.env, "SEGLOCATE_WORKER_QUEUES": self.queues}
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=REPO_ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the whole process group (the worker and its pool children) at once."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)
            self.proc.wait(timeout=30)

    def stop(self, timeout: float = 20.0) -> None:
        if self.alive():
            os.killpg(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "log", None):
            self.log.close()


class Cluster:
    """Settings for a private set of buckets on shared servers, plus the workers started."""

    def __init__(self, redis_url: str, s3, workdir: Path, **settings_overrides: object) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.workdir = workdir
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "HF_HUB_OFFLINE": "1",
            "SEGLOCATE_BROKER_URL": redis_url,
            "SEGLOCATE_S3_ENDPOINT": s3.endpoint,
            "SEGLOCATE_S3_ACCESS_KEY": s3.access_key,
            "SEGLOCATE_S3_SECRET_KEY": s3.secret_key,
            "SEGLOCATE_VIDEOS_BUCKET": f"videos-{suffix}",
            "SEGLOCATE_RESULTS_BUCKET": f"results-{suffix}",
            "SEGLOCATE_WORK_BUCKET": f"work-{suffix}",
            "SEGLOCATE_SCORER": "ocr",
            "SEGLOCATE_WINDOWS_PER_TASK": "4",
        }
        self.env.update({f"SEGLOCATE_{k.upper()}": str(v) for k, v in settings_overrides.items()})
        self.workers: list[WorkerProcess] = []

    @property
    def settings(self) -> Settings:
        values = {
            k[len("SEGLOCATE_") :].lower(): v
            for k, v in self.env.items()
            if k.startswith("SEGLOCATE_")
        }
        return Settings(**values)

    def store(self) -> ObjectStore:
        return open_store(self.settings)

    def wait_for_workers(self, count: int, timeout: float = 60.0) -> None:
        """Until ``count`` live worker records exist (each started and wrote its heartbeat)."""
        store = self.store()
        bucket = self.settings.work_bucket
        wait_until(
            lambda: len(live_workers(store, bucket)) >= count,
            timeout,
            what=f"{count} worker heartbeats",
        )

    def result(self, job_id: str) -> JobResult | None:
        return read_model_or_none(
            self.store(), self.settings.results_bucket, keys.result_json(job_id), JobResult
        )

    def wait_result(self, job_id: str, timeout: float = 120.0) -> JobResult:
        """Poll the results bucket for the job's result.json (prints the worker logs on timeout)."""
        store = self.store()
        bucket = self.settings.results_bucket

        def found() -> JobResult | None:
            return read_model_or_none(store, bucket, keys.result_json(job_id), JobResult)

        try:
            return wait_until(found, timeout, interval=0.3, what=f"result of job {job_id}")
        except TimeoutError:
            print(self.logs())
            raise

    def start_worker(self, queues: str, concurrency: int = 1, **env: str) -> WorkerProcess:
        log = self.workdir / f"worker-{len(self.workers)}-{queues.replace(',', '-')}.log"
        worker = WorkerProcess({**self.env, **env}, queues, log, concurrency).start()
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers.clear()

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-4000:] for p in sorted(self.workdir.glob("worker-*.log"))
        )


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached in {timeout:g}s")

"""``seglocate worker``: start Celery worker processes for the cpu and/or gpu queues.

- ``--queues cpu``: a prefork worker (``--concurrency`` processes) for ingest and aggregation.
- ``--queues gpu``: one process (solo pool) holding the resident scorer; with ``--gpus 0,1``
  one such process per GPU, each with ``CUDA_VISIBLE_DEVICES`` set before CUDA is touched.
- ``--queues cpu,gpu`` (default): one process runs the whole pipeline.

With ``SEGLOCATE_METRICS_PORT`` set, this process serves ``/metrics`` for all the processes it
starts (one endpoint per machine or pod). SIGTERM and SIGINT are forwarded to every worker,
which stops gracefully (:mod:`workers.shutdown`); the exit code is 0 when all of them exited 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence

from common.errors import InvalidInputError
from common.pipeline import QUEUE_CPU, QUEUE_GPU, broker_queues
from common.settings import Settings


def parse_queues(queues: str) -> list[str]:
    names = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = [q for q in names if q not in (QUEUE_CPU, QUEUE_GPU)]
    if not names or unknown:
        raise InvalidInputError(f"--queues {queues!r}", f"choose from {QUEUE_CPU}, {QUEUE_GPU}")
    return names


def parse_gpus(gpus: str | None) -> list[str]:
    if not gpus:
        return []
    ids = [g.strip() for g in gpus.split(",") if g.strip()]
    if not all(g.isdigit() for g in ids):
        raise InvalidInputError(
            f"--gpus {gpus!r}", "expected comma-separated GPU numbers, e.g. 0,1"
        )
    return ids


def worker_command(
    queues: Sequence[str], name: str, concurrency: int | None, loglevel: str, scorer: str
) -> list[str]:
    """The ``celery worker`` command line for one worker process group.

    The ``gpu`` queue becomes the broker queue of the worker's scorer, ``gpu.<scorer>``.
    """
    cmd = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker"]
    cmd += ["-Q", ",".join(broker_queues(list(queues), scorer)), "-n", f"{name}@%h"]
    cmd += ["--loglevel", loglevel, "--without-gossip", "--without-mingle"]
    if QUEUE_GPU in queues:
        cmd += ["--pool", "solo"]  # one resident model per process; nothing forks after CUDA
    else:
        cmd += ["--pool", "prefork", "--concurrency", str(concurrency or os.cpu_count() or 1)]
    return cmd


def planned_processes(
    queues: list[str], gpus: list[str], concurrency: int | None, loglevel: str, scorer: str = "text"
) -> list[tuple[list[str], dict[str, str]]]:
    """(command, extra environment) for every worker process to start."""
    plans: list[tuple[list[str], dict[str, str]]] = []
    if gpus and QUEUE_GPU in queues:
        if QUEUE_CPU in queues:
            cpu = worker_command([QUEUE_CPU], "cpu", concurrency, loglevel, scorer)
            plans.append((cpu, {"SEGLOCATE_WORKER_QUEUES": QUEUE_CPU}))
        for gpu in gpus:
            env = {"SEGLOCATE_WORKER_QUEUES": QUEUE_GPU, "CUDA_VISIBLE_DEVICES": gpu}
            plans.append((worker_command([QUEUE_GPU], f"gpu{gpu}", None, loglevel, scorer), env))
    else:
        command = worker_command(queues, "-".join(queues), concurrency, loglevel, scorer)
        plans.append((command, {"SEGLOCATE_WORKER_QUEUES": ",".join(queues)}))
    return plans


def run_worker(
    settings: Settings, queues: str, gpus: str | None, concurrency: int | None, loglevel: str
) -> int:
    """Start the planned worker processes and wait; SIGINT/SIGTERM stop them all."""
    if settings.embedded:
        raise InvalidInputError(
            "SEGLOCATE_BROKER_URL", "not set: workers need a broker (embedded mode runs in-process)"
        )
    plans = planned_processes(
        parse_queues(queues), parse_gpus(gpus), concurrency, loglevel, settings.scorer
    )
    from workers.metrics.multiproc import SERVED_BY_PARENT_ENV
    from workers.metrics.process import start_exporter

    exporter = start_exporter(settings, parse_queues(queues), parse_gpus(gpus) or None)
    served = {SERVED_BY_PARENT_ENV: "1"} if exporter is not None else {}
    children = [
        subprocess.Popen(cmd, env={**os.environ, **extra, **served}) for cmd, extra in plans
    ]

    def stop(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    codes = [child.wait() for child in children]
    if exporter is not None:
        exporter.stop()
    return exit_code(codes)


def exit_code(codes: Sequence[int]) -> int:
    """0 when every worker exited 0, else the first failure's code (a worker killed by signal
    N, code -N, gives 128 + N as a shell would)."""
    for code in codes:
        if code:
            return 128 - code if code < 0 else code
    return 0

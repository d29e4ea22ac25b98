"""Where metrics start in a worker's processes (called from Celery's signals and the launcher).

- The **serving** process (``seglocate worker``, or the Celery main process when Celery is
  started directly) empties the metrics folder, starts ``/metrics`` and, on a cpu worker, the
  fleet collector: :func:`start_exporter`. It does so before any pool process forks.
- Every **step-running** process (a prefork child, or the solo pool's one process) records into
  that folder: :func:`init_step_process`; on exit its live gauges go: :func:`exit_step_process`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from common.pipeline import QUEUE_CPU, QUEUE_GPU, broker_queues
from common.scorers.specs import SCORER_NAMES
from common.settings import Settings
from workers import metrics
from workers.metrics.multiproc import (
    MULTIPROC_ENV,
    SERVED_BY_PARENT_ENV,
    mark_exited,
    prepare_directory,
    use_directory,
)

log = logging.getLogger(__name__)


@dataclass
class Exporter:
    """A running ``/metrics`` endpoint and what it started."""

    server: Any
    fleet: Any | None = None

    def stop(self) -> None:
        if self.fleet is not None:
            self.fleet.stop()
        with contextlib.suppress(Exception):
            self.server.shutdown()


def start_exporter(
    settings: Settings, queues: Sequence[str], gpus: Sequence[str] | None = None
) -> Exporter | None:
    """Serve the metrics of this process and the processes it starts (None when
    ``SEGLOCATE_METRICS_PORT`` is unset). ``queues``: ``cpu`` and/or ``gpu``; ``gpus``: the
    GPU ids whose memory to report (default ``CUDA_VISIBLE_DEVICES``, else all)."""
    if settings.metrics_port is None:
        return None
    from common.storage import open_store
    from workers.metrics.exporter import serve_metrics
    from workers.metrics.fleet import FleetCollector
    from workers.metrics.gpu import GpuMemoryCollector

    folder = prepare_directory(os.environ.get(MULTIPROC_ENV))
    collectors: list[Any] = []
    if QUEUE_GPU in queues:
        gpu = GpuMemoryCollector(gpus)
        if gpu.available:
            collectors.append(gpu)
    fleet = None
    if QUEUE_CPU in queues and not settings.embedded:
        fleet = FleetCollector(settings, open_store(settings))
        collectors.append(fleet)
    try:
        server = serve_metrics(settings.metrics_port, folder, collectors)
    except OSError as exc:  # the port is taken: work on, unobserved, rather than not at all
        log.error("metrics not served: port %d: %s", settings.metrics_port, exc)
        return None
    return Exporter(server, fleet.start() if fleet is not None else None)


def init_main_process(settings: Settings, queues: Sequence[str]) -> Exporter | None:
    """In the Celery main process, before the pool forks: serve the metrics, unless the
    parent ``seglocate worker`` serves them (then only join its metrics folder)."""
    if settings.metrics_port is None:
        return None
    if os.environ.get(SERVED_BY_PARENT_ENV):
        use_directory()
        return None
    return start_exporter(settings, queues)


def init_step_process(settings: Settings, queues: Sequence[str], scorer: str | None) -> None:
    """In each process that runs steps: record metrics into the worker's folder."""
    if settings.metrics_port is None:
        return
    use_directory()
    recorded = metrics.activate()
    # A gpu process counts for its scorer; a cpu process (ingest) for any job's scorer.
    recorded.initialise([scorer] if scorer and QUEUE_CPU not in queues else list(SCORER_NAMES))
    for queue in broker_queues(list(queues), scorer or ""):
        recorded.worker_processes.labels(queue=queue, scorer=scorer or "").inc()


def exit_step_process() -> None:
    """In a step-running process that exits: drop its live gauges (counters stay)."""
    if metrics.active() is not None:
        mark_exited(os.getpid())

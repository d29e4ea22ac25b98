"""The ``/metrics`` endpoint of a worker: every process's multiprocess files, summed, plus the
collectors read at scrape time (GPU memory, fleet gauges)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from workers.metrics.multiproc import prune_dead_processes

log = logging.getLogger(__name__)


class ProcessFilesCollector(Collector):
    """The metrics every process wrote into ``folder``; live gauges of killed processes are
    dropped first."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._collector = MultiProcessCollector(None, path=str(folder))

    def collect(self) -> Iterator[Metric]:
        prune_dead_processes(self.folder)
        yield from self._collector.collect()


def serve_metrics(port: int, folder: Path, collectors: Iterable[Collector] = ()) -> Any:
    """Serve ``/metrics`` on ``port`` (all interfaces) in a daemon thread; returns the server."""
    registry = CollectorRegistry()
    registry.register(ProcessFilesCollector(folder))
    for collector in collectors:
        registry.register(collector)
    server, _thread = start_http_server(port, addr="0.0.0.0", registry=registry)
    log.info("metrics on :%d/metrics (processes write to %s)", port, folder)
    return server

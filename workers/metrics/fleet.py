"""Fleet gauges (queues, jobs, videos, windows waiting, live workers), exported by ONE process.

Every cpu worker could read them, but the fleet must export them once, or a ``sum`` over the
fleet counts each job several times. A cpu worker's exporting process starts a
:class:`FleetCollector`; the collectors share a lock in the broker (``SET NX`` with an expiry
of three refresh intervals), and only the holder reads the store and exports. If it dies,
another takes over within three intervals.

The gauges come from :func:`common.fleet.read_fleet`, refreshed every
``SEGLOCATE_METRICS_FLEET_INTERVAL_S`` in a thread (a scrape never waits on the store).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from common.broker import redis_client
from common.fleet import FleetSnapshot, broker_queue_names, read_fleet
from common.heartbeat import prune_worker_records
from common.schemas import JobState, VideoState
from common.settings import Settings
from common.storage import ObjectStore

log = logging.getLogger(__name__)

#: Broker key of the lock held by the one process that exports the fleet gauges.
LOCK_KEY = "seglocate:fleet-metrics-exporter"
#: Seconds between two deletions of long-gone worker records by the exporting process.
PRUNE_INTERVAL_S = 3600.0


class BrokerLock:
    """A lock in the Redis broker that expires unless renewed (``SET NX EX``)."""

    def __init__(self, settings: Settings, ttl_s: float, key: str = LOCK_KEY) -> None:
        self.settings = settings
        self.ttl_s = max(1, int(ttl_s + 0.999))
        self.key = key
        self.holder = f"{socket.gethostname()}-{os.getpid()}-{time.time_ns()}"

    def acquire_or_renew(self) -> bool:
        """True if this process holds the lock (now taken, or renewed)."""
        client = redis_client(self.settings, timeout_s=5.0)
        try:
            if client.set(self.key, self.holder, nx=True, ex=self.ttl_s):
                return True
            if client.get(self.key) == self.holder.encode():
                client.expire(self.key, self.ttl_s)
                return True
            return False
        finally:
            client.close()

    def release(self) -> None:
        client = redis_client(self.settings, timeout_s=5.0)
        try:
            if client.get(self.key) == self.holder.encode():
                client.delete(self.key)
        finally:
            client.close()


class FleetCollector(Collector):
    """Exports the last :class:`FleetSnapshot` while this process holds the fleet lock."""

    def __init__(
        self,
        settings: Settings,
        store: ObjectStore,
        read: Callable[[Settings, ObjectStore], FleetSnapshot] = read_fleet,
    ) -> None:
        self.settings = settings
        self.store = store
        self.read = read
        self.interval_s = settings.metrics_fleet_interval_s
        self.lock = BrokerLock(settings, ttl_s=3 * self.interval_s)
        self.snapshot: FleetSnapshot | None = None
        self._pruned_at = float("-inf")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="seglocate-fleet", daemon=True)

    def start(self) -> FleetCollector:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        try:
            self.lock.release()
        except Exception:
            log.debug("fleet lock not released", exc_info=True)

    def refresh_once(self) -> bool:
        """Take or renew the lock, then read the fleet; returns whether this process exports."""
        if not self.lock.acquire_or_renew():
            self.snapshot = None
            return False
        self.snapshot = self.read(self.settings, self.store)
        now = time.monotonic()
        if now - self._pruned_at >= PRUNE_INTERVAL_S:  # an autoscaled fleet leaves many records
            self._pruned_at = now
            prune_worker_records(self.store, self.settings.work_bucket)
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh_once()
            except Exception as exc:  # broker or store down: keep the last snapshot (its age shows)
                log.warning("fleet metrics not refreshed: %s", exc)
            self._stop.wait(self.interval_s)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snapshot = self.snapshot
        if snapshot is None:
            return
        yield from snapshot_metrics(snapshot)


def snapshot_metrics(snapshot: FleetSnapshot) -> list[GaugeMetricFamily]:
    """The fleet gauges of one snapshot (pure)."""
    families = []
    if snapshot.queues is not None:
        queues = GaugeMetricFamily(
            "seglocate_queue_messages", "Messages waiting in a broker queue.", labels=["queue"]
        )
        for queue, messages in sorted(snapshot.queues.items()):
            queues.add_metric([queue], messages)
        families.append(queues)
    if snapshot.unacked is not None:
        families.append(
            GaugeMetricFamily(
                "seglocate_queue_unacked_messages",
                "Messages delivered to workers and not yet acknowledged.",
                value=snapshot.unacked,
            )
        )
    waiting = GaugeMetricFamily(
        "seglocate_windows_waiting",
        "Windows planned and not yet scored, over active jobs (the autoscaling signal).",
        labels=["scorer"],
    )
    for scorer, windows in sorted(snapshot.windows_waiting().items()):
        waiting.add_metric([scorer], windows)
    families.append(waiting)
    jobs = GaugeMetricFamily(
        "seglocate_jobs", "Active jobs (no result yet), by state.", labels=["state"]
    )
    by_state = snapshot.jobs_by_state()
    for state in (JobState.queued, JobState.running):
        jobs.add_metric([state.value], by_state.get(state.value, 0))
    families.append(jobs)
    videos = GaugeMetricFamily(
        "seglocate_videos", "Videos of active jobs, by state.", labels=["state"]
    )
    by_video_state = snapshot.videos_by_state()
    for video_state in VideoState:
        videos.add_metric([video_state.value], by_video_state.get(video_state.value, 0))
    families.append(videos)
    job_waiting = GaugeMetricFamily(
        "seglocate_job_windows_waiting",
        "Windows of an active job planned and not yet scored.",
        labels=["job_id", "scorer"],
    )
    job_planned = GaugeMetricFamily(
        "seglocate_job_windows_planned",
        "Windows of an active job planned so far (videos ingested).",
        labels=["job_id", "scorer"],
    )
    for job in snapshot.jobs:
        job_waiting.add_metric([job.job_id, job.scorer], job.windows_waiting)
        job_planned.add_metric([job.job_id, job.scorer], job.windows_planned)
    families += [job_waiting, job_planned]
    workers = GaugeMetricFamily(
        "seglocate_workers", "Live worker processes (heartbeats) per queue.", labels=["queue"]
    )
    by_queue = snapshot.workers_by_queue()
    for queue in broker_queue_names():
        workers.add_metric([queue], by_queue.get(queue, 0))
    families.append(workers)
    families.append(
        GaugeMetricFamily(
            "seglocate_fleet_refresh_timestamp_seconds",
            "Unix time of the fleet gauges' last read.",
            value=snapshot.taken_at.timestamp(),
        )
    )
    return families

"""Worker records in the work bucket: which scorer each worker serves, its load and task counts.

``workers/{node}.json`` is rewritten at start and at most every :data:`HEARTBEAT_INTERVAL_S`.
The client reads these to fail fast when no live worker serves a job's scorer.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from common import keys
from common.schemas import utc_now
from common.storage import ObjectStore, write_model

#: Seconds between heartbeat writes while tasks run.
HEARTBEAT_INTERVAL_S = 1.0
#: A worker silent for longer than this is presumed gone.
HEARTBEAT_STALE_S = 90.0
#: Minutes of per-minute work history a worker record keeps.
WORK_HISTORY_MINUTES = 16


class WorkerRecord(BaseModel):
    node: str
    pid: int
    queues: list[str]
    scorer: str | None  #: the scorer served on the gpu queue (None: cpu only)
    scorer_loads: int = 0  #: times this process built its scorer (one expected)
    tasks_done: int = 0
    started_at: datetime = Field(default_factory=utc_now)
    last_seen: datetime = Field(default_factory=utc_now)
    #: Windows this process scored since it started.
    windows_scored: int = 0
    #: Windows scored per minute, as ``(unix minute, windows)``, for the last
    #: :data:`WORK_HISTORY_MINUTES` minutes with work: what ``seglocate stats`` reports as
    #: throughput.
    windows_by_minute: list[tuple[int, int]] = Field(default_factory=list)
    #: The process stopped cleanly (a graceful shutdown): it is gone, whatever ``last_seen``.
    stopped: bool = False

    def alive(self, now: datetime | None = None) -> bool:
        if self.stopped:
            return False
        return (now or utc_now()) - self.last_seen < timedelta(seconds=HEARTBEAT_STALE_S)


class Heartbeat:
    """Keeps this process's :class:`WorkerRecord` up to date in the store."""

    def __init__(
        self, store: ObjectStore, bucket: str, queues: list[str], scorer: str | None
    ) -> None:
        self.store = store
        self.bucket = bucket
        node = f"{socket.gethostname()}-{os.getpid()}"
        self.record = WorkerRecord(node=node, pid=os.getpid(), queues=queues, scorer=scorer)
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="seglocate-heartbeat", daemon=True)

    @property
    def key(self) -> str:
        return keys.worker_record(self.record.node)

    def start(self) -> None:
        self.flush()
        self._thread.start()

    def update(
        self,
        tasks_done: int | None = None,
        scorer_loads: int | None = None,
        windows_scored: int | None = None,
    ) -> None:
        """Record this process's totals so far; windows scored since the last update are
        added to the current minute of the work history."""
        with self._lock:
            if tasks_done is not None:
                self.record.tasks_done = tasks_done
            if scorer_loads is not None:
                self.record.scorer_loads = scorer_loads
            if windows_scored is not None:
                new = windows_scored - self.record.windows_scored
                self.record.windows_scored = windows_scored
                if new > 0:
                    self.record.windows_by_minute = add_to_minute(
                        self.record.windows_by_minute, unix_minute(utc_now()), new
                    )
        self._dirty.set()

    def flush(self) -> None:
        with self._lock:
            self.record.last_seen = utc_now()
            record = self.record.model_copy()
        with contextlib.suppress(Exception):  # a heartbeat must never break a task
            write_model(self.store, self.bucket, self.key, record)

    def _loop(self) -> None:
        waited = 0.0
        while not self._stop.wait(HEARTBEAT_INTERVAL_S):
            waited += HEARTBEAT_INTERVAL_S
            if self._dirty.is_set() or waited >= HEARTBEAT_STALE_S / 3:
                self._dirty.clear()
                waited = 0.0
                self.flush()

    def stop(self) -> None:
        """Write the final record, marked stopped (no longer a live worker)."""
        self._stop.set()
        with self._lock:
            self.record.stopped = True
        self.flush()


def live_workers(store: ObjectStore, bucket: str) -> list[WorkerRecord]:
    """Records of workers seen recently."""
    records = []
    for key in store.list_keys(bucket, keys.WORKERS_PREFIX):
        try:
            record = WorkerRecord.model_validate_json(store.get_bytes(bucket, key))
        except Exception:
            continue
        if record.alive():
            records.append(record)
    return records


def worker_records(store: ObjectStore, bucket: str) -> list[WorkerRecord]:
    """Every readable worker record, alive or not (for work done in the last minutes)."""
    records = []
    for key in store.list_keys(bucket, keys.WORKERS_PREFIX):
        try:
            records.append(WorkerRecord.model_validate_json(store.get_bytes(bucket, key)))
        except Exception:
            continue
    return records


def unix_minute(moment: datetime) -> int:
    """Minutes since the Unix epoch of ``moment`` (its work-history bucket)."""
    return int(moment.timestamp() // 60)


def add_to_minute(
    history: list[tuple[int, int]], minute: int, windows: int
) -> list[tuple[int, int]]:
    """``history`` with ``windows`` added to ``minute``, keeping the last
    :data:`WORK_HISTORY_MINUTES` minutes (pure)."""
    counts = dict(history)
    counts[minute] = counts.get(minute, 0) + windows
    return sorted((m, n) for m, n in counts.items() if m > minute - WORK_HISTORY_MINUTES)


#: Worker records not seen for this long are deleted by :func:`prune_worker_records`, seconds.
WORKER_RECORD_TTL_S = 24 * 3600.0


def prune_worker_records(
    store: ObjectStore, bucket: str, older_than_s: float = WORKER_RECORD_TTL_S
) -> int:
    """Delete the records of workers gone for ``older_than_s`` (an autoscaled fleet leaves one
    per pod start); returns how many. Unreadable records are left alone."""
    cutoff = utc_now() - timedelta(seconds=older_than_s)
    gone = 0
    for key in list(store.list_keys(bucket, keys.WORKERS_PREFIX)):
        try:
            record = WorkerRecord.model_validate_json(store.get_bytes(bucket, key))
        except Exception:
            continue
        if record.last_seen < cutoff:
            store.delete(bucket, key)
            gone += 1
    return gone

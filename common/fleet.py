"""What an operator asks of the fleet, read from the broker and the store (never from a worker):
queue depths, live workers, active jobs with their windows waiting, and recent throughput.

``seglocate stats``, ``seglocate queue-depth`` and the fleet metrics
(:mod:`workers.metrics.fleet`) all read it here, so they agree.

Windows waiting, not messages, measure the work left: a message is a batch of up to
``SEGLOCATE_WINDOWS_PER_TASK`` windows, a ``prepare_video`` message fans out into a whole
video's batches, and a video still queued for ingest has no message on a gpu queue yet.
Windows waiting are the windows planned (videos ingested) and not yet scored, from the store.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from common import keys
from common.broker import broker_address, describe_broker_error, queue_lengths, unacked_count
from common.errors import BrokerUnavailableError, InvalidInputError, SeglocateError
from common.heartbeat import WorkerRecord, unix_minute, worker_records
from common.jobstate import JobNotFoundError, JobStore
from common.pipeline import QUEUE_CPU, broker_queues, gpu_queue
from common.schemas import JobState, utc_now
from common.scorers.specs import SCORER_NAMES
from common.settings import Settings
from common.storage import ObjectStore

log = logging.getLogger(__name__)

#: Windows of time over which ``seglocate stats`` reports throughput, minutes.
THROUGHPUT_MINUTES = (1, 5, 15)


def broker_queue_names() -> list[str]:
    """Every queue seglocate publishes to: ``cpu`` and ``gpu.<scorer>`` for each scorer."""
    return [QUEUE_CPU, *(gpu_queue(name) for name in SCORER_NAMES)]


class JobProgress(BaseModel):
    """One active job (no result yet), from the store."""

    job_id: str
    state: JobState
    scorer: str
    videos: dict[str, int] = Field(default_factory=dict)  #: video state -> videos
    windows_planned: int = 0  #: windows of the videos ingested so far
    windows_done: int = 0

    @property
    def windows_waiting(self) -> int:
        return max(0, self.windows_planned - self.windows_done)


class FleetSnapshot(BaseModel):
    """The fleet at one moment."""

    taken_at: datetime = Field(default_factory=utc_now)
    #: Messages waiting in each broker queue; None when the broker could not be read.
    queues: dict[str, int] | None = None
    #: Messages delivered to workers and not yet acknowledged (all queues).
    unacked: int | None = None
    #: Why the broker could not be read (None when it was).
    broker_error: str | None = None
    jobs: list[JobProgress] = Field(default_factory=list)
    #: Worker records seen within the last :data:`THROUGHPUT_MINUTES` (live or not).
    workers: list[WorkerRecord] = Field(default_factory=list)

    def live_workers(self) -> list[WorkerRecord]:
        return [w for w in self.workers if w.alive(self.taken_at)]

    def workers_by_queue(self) -> dict[str, int]:
        """Live worker processes per broker queue they serve (``cpu``, ``gpu.ocr`` ...)."""
        counts: Counter[str] = Counter()
        for worker in self.live_workers():
            for queue in broker_queues(worker.queues, worker.scorer or ""):
                counts[queue] += 1
        return dict(counts)

    def jobs_by_state(self) -> dict[str, int]:
        return dict(Counter(job.state.value for job in self.jobs))

    def videos_by_state(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for job in self.jobs:
            counts.update(job.videos)
        return dict(counts)

    def windows_waiting(self) -> dict[str, int]:
        """Windows planned and not yet scored, per scorer, over the active jobs."""
        counts: Counter[str] = Counter({name: 0 for name in SCORER_NAMES})
        for job in self.jobs:
            counts[job.scorer] += job.windows_waiting
        return dict(counts)

    def throughput(self, minutes: int) -> dict[str, float]:
        """Windows scored per second over the last ``minutes`` (and the current one), per
        scorer, from the worker records' per-minute history."""
        return throughput(self.workers, self.taken_at, minutes)


def throughput(records: list[WorkerRecord], now: datetime, minutes: int) -> dict[str, float]:
    """Windows per second per scorer over ``minutes`` full minutes plus the current one (pure)."""
    current = unix_minute(now)
    elapsed_s = minutes * 60 + (now.timestamp() - current * 60)
    totals: Counter[str] = Counter()
    for record in records:
        if record.scorer is None:
            continue
        recent = (n for minute, n in record.windows_by_minute if minute >= current - minutes)
        totals[record.scorer] += sum(recent)
    return {scorer: n / elapsed_s for scorer, n in totals.items()}


def read_queue_depths(
    settings: Settings, queues: list[str] | None = None, timeout_s: float = 5.0
) -> dict[str, int]:
    """Messages waiting in each broker queue (default: all of ours), not counting those
    workers hold; :class:`BrokerUnavailableError` naming the broker when it cannot be read."""
    try:
        return queue_lengths(settings, queues or broker_queue_names(), timeout_s)
    except BrokerUnavailableError:
        raise
    except Exception as exc:
        raise BrokerUnavailableError(
            f"broker {broker_address(settings)}: {describe_broker_error(exc)}"
        ) from None


def active_job_ids(store: ObjectStore, work_bucket: str) -> list[str]:
    """Jobs with an active marker (no final result yet)."""
    found = []
    for key in store.list_keys(work_bucket, keys.ACTIVE_PREFIX):
        if key.endswith(".json"):
            try:
                found.append(keys.job_id_from_active(key))
            except InvalidInputError:
                continue
    return found


def read_job(jobs: JobStore, job_id: str) -> JobProgress | None:
    """An active job's progress; None when it finished or vanished meanwhile."""
    try:
        status = jobs.progress(job_id)
        scorer = jobs.spec(job_id).options.scorer
    except JobNotFoundError:
        return None
    if status.state not in (JobState.queued, JobState.running):
        return None
    videos = Counter(video.state.value for video in status.videos)
    return JobProgress(
        job_id=job_id,
        state=status.state,
        scorer=scorer,
        videos=dict(videos),
        windows_planned=status.windows_total,
        windows_done=status.windows_done,
    )


def read_jobs(store: ObjectStore, settings: Settings) -> list[JobProgress]:
    """Progress of every active job (a job whose records cannot be read is left out)."""
    jobs = JobStore(store, settings.work_bucket, settings.results_bucket)
    found = []
    for job_id in active_job_ids(store, settings.work_bucket):
        try:
            progress = read_job(jobs, job_id)
        except SeglocateError as exc:
            log.warning("job %s: progress unreadable: %s", job_id, exc)
            continue
        if progress is not None:
            found.append(progress)
    return found


def read_fleet(settings: Settings, store: ObjectStore, with_broker: bool = True) -> FleetSnapshot:
    """Everything above in one read; a broker that cannot be read is reported, not raised."""
    now = utc_now()
    snapshot = FleetSnapshot(taken_at=now)
    if with_broker and not settings.embedded:
        try:
            snapshot.queues = read_queue_depths(settings)
            snapshot.unacked = unacked_count(settings)
        except Exception as exc:  # the operator still wants the store's half
            snapshot.broker_error = describe_broker_error(exc)
    snapshot.jobs = read_jobs(store, settings)
    recent = now - timedelta(minutes=max(THROUGHPUT_MINUTES))
    snapshot.workers = [
        w for w in worker_records(store, settings.work_bucket) if w.last_seen >= recent
    ]
    return snapshot

"""Resuming jobs from the store: after a broker loss nothing in Redis is needed to finish them.

:func:`resume_job` re-enqueues the next step of every unfinished video, judged only from the
stored state; every step is idempotent, so a duplicate is harmless and stored window scores are
never recomputed. :class:`Reconciler` (run by cpu workers) resumes active jobs that made no
progress for ``reconcile_stale_s`` while the broker holds no queued or unacknowledged message.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable

from common import keys
from common.jobstate import job_store
from common.pipeline import (
    QUEUE_CPU,
    TASK_FINALIZE,
    TASK_INGEST,
    TASK_PREPARE,
    PipelineContext,
    gpu_queue,
)
from common.schemas import JobTask, VideoState, VideoTask
from common.scorers import SCORER_NAMES

log = logging.getLogger(__name__)


def resume_job(ctx: PipelineContext, job_id: str) -> int:
    """Enqueue what the job still needs; returns the number of messages sent."""
    jobs = job_store(ctx)
    if ctx.store.exists(ctx.settings.results_bucket, keys.result_json(job_id)):
        return 0
    spec = jobs.spec(job_id)
    sent = 0
    for index, _ref in enumerate(spec.videos):
        record = jobs.stored_record(job_id, index)
        task = VideoTask(job_id=job_id, video_index=index, scorer=spec.options.scorer)
        if record is None or record.status in (VideoState.queued, VideoState.ingesting):
            ctx.enqueue(TASK_INGEST, task)
            sent += 1
        elif record.status == VideoState.scoring:
            ctx.enqueue(TASK_PREPARE, task)  # enqueues only the batches not yet stored
            sent += 1
    ctx.enqueue(TASK_FINALIZE, JobTask(job_id=job_id))
    log.info("job %s resumed: %d video steps re-enqueued", job_id, sent)
    return sent + 1


def active_jobs(ctx: PipelineContext) -> list[str]:
    prefix = keys.ACTIVE_PREFIX
    return [
        key[len(prefix) : -len(".json")]
        for key in ctx.store.list_keys(ctx.settings.work_bucket, prefix)
        if key.endswith(".json")
    ]


def progress_fingerprint(ctx: PipelineContext, job_id: str) -> str:
    """Changes whenever any object of the job is added or removed."""
    listed = ctx.store.list_keys(ctx.settings.work_bucket, keys.job_prefix(job_id))
    return hashlib.sha256("\n".join(listed).encode()).hexdigest()


class Reconciler:
    """Periodically resumes stalled active jobs (see module docstring)."""

    def __init__(self, ctx: PipelineContext, broker_is_idle: Callable[[], bool]) -> None:
        self.ctx = ctx
        self.broker_is_idle = broker_is_idle
        self._seen: dict[str, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="seglocate-reconciler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def check_once(self, now: float | None = None) -> list[str]:
        """Resume the jobs that are stale now; returns their ids."""
        now = time.monotonic() if now is None else now
        stale_after = self.ctx.settings.reconcile_stale_s
        resumed = []
        stale = []
        for job_id in active_jobs(self.ctx):
            if self.ctx.store.exists(self.ctx.settings.results_bucket, keys.result_json(job_id)):
                self.ctx.store.delete(self.ctx.settings.work_bucket, keys.active_job(job_id))
                continue
            fingerprint = progress_fingerprint(self.ctx, job_id)
            previous = self._seen.get(job_id)
            if previous is None or previous[0] != fingerprint:
                self._seen[job_id] = (fingerprint, now)
            elif now - previous[1] >= stale_after:
                stale.append(job_id)
        if stale and self.broker_is_idle():
            for job_id in stale:
                resume_job(self.ctx, job_id)
                self._seen.pop(job_id, None)
                resumed.append(job_id)
        return resumed

    def _loop(self) -> None:
        interval = self.ctx.settings.reconcile_interval_s
        while not self._stop.wait(interval):
            try:
                self.check_once()
            except Exception:  # the store or broker may be down: try again next time
                log.warning("reconciler check failed", exc_info=True)


def redis_broker_is_idle(app) -> bool:  # type: ignore[no-untyped-def]
    """True when the Redis broker holds no queued and no unacknowledged message."""
    with app.connection_for_read() as conn:
        client = conn.default_channel.client
        queues = [QUEUE_CPU, *(gpu_queue(name) for name in SCORER_NAMES)]
        queued = sum(int(client.llen(queue)) for queue in queues)
        unacked = int(client.hlen("unacked"))
    return queued == 0 and unacked == 0

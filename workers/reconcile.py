"""Resuming jobs from the store: after a broker loss nothing in Redis is needed to finish them.

:func:`resume_job` re-enqueues the next step of every unfinished video, judged only from the
stored state; every step is idempotent, so a duplicate is harmless and stored window scores are
never recomputed. :class:`Reconciler` (run by cpu workers) resumes active jobs that made no
progress for ``reconcile_stale_s`` while the broker holds no queued or unacknowledged message,
at most ``max_resumes`` times without progress in between: then their unfinished videos fail
("stalled"), so no job stays running for ever.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable

from common import keys
from common.broker import queue_lengths, unacked_count
from common.errors import CorruptObjectError, InvalidInputError
from common.jobstate import fail_video, job_store
from common.pipeline import (
    QUEUE_CPU,
    TASK_FINALIZE,
    TASK_INGEST,
    TASK_PREPARE,
    PipelineContext,
    gpu_queue,
)
from common.schemas import JobTask, ResumeEvent, VideoState, VideoTask
from common.scorers.specs import SCORER_NAMES
from common.settings import Settings
from common.storage import read_model_or_none, write_model

log = logging.getLogger(__name__)

#: Object folders under a job that record attempts, not progress.
_NOT_PROGRESS = ("/attempts/", "/resumes/", "/repairs/")


def resume_job(ctx: PipelineContext, job_id: str) -> int:
    """Enqueue what the job still needs; returns the number of messages sent.

    A corrupt result JSON is deleted and rebuilt from the stored per-video results and scores.
    """
    jobs = job_store(ctx)
    try:
        if jobs.result(job_id) is not None:
            return 0
    except CorruptObjectError as exc:
        log.warning("%s; rebuilding it from the stored scores", exc)
        ctx.store.delete(ctx.settings.results_bucket, keys.result_json(job_id))
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
    found = []
    for key in ctx.store.list_keys(ctx.settings.work_bucket, prefix):
        if key.endswith(".json"):
            try:
                found.append(keys.job_id_from_active(key))
            except InvalidInputError:
                log.warning("ignoring an active-job marker with a bad id")
    return found


def progress_fingerprint(ctx: PipelineContext, job_id: str) -> str:
    """Changes whenever an object of the job's progress is added or removed (attempt and
    resume records do not count: they are not progress)."""
    listed = [
        key
        for key in ctx.store.list_keys(ctx.settings.work_bucket, keys.job_prefix(job_id))
        if not any(part in key for part in _NOT_PROGRESS)
    ]
    return hashlib.sha256("\n".join(listed).encode()).hexdigest()


def resumes_without_progress(ctx: PipelineContext, job_id: str, fingerprint: str) -> int:
    """How many times the job was resumed while its progress stood at ``fingerprint``."""
    work = ctx.settings.work_bucket
    count = 0
    for key in ctx.store.list_keys(work, keys.resumes_prefix(job_id)):
        event = read_model_or_none(ctx.store, work, key, ResumeEvent)
        count += event is not None and event.fingerprint == fingerprint
    return count


def fail_stalled_job(ctx: PipelineContext, job_id: str, resumes: int) -> None:
    """Fail every unfinished video of a job that resuming does not move."""
    jobs = job_store(ctx)
    spec = jobs.spec(job_id)
    for index, ref in enumerate(spec.videos):
        record = jobs.stored_record(job_id, index)
        if record is None or not record.status.finished:
            reason = f"{ref.name}: stalled: no progress after {resumes} resumes of the job"
            fail_video(ctx, spec, index, reason)
    ctx.enqueue(TASK_FINALIZE, JobTask(job_id=job_id))


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
        """Resume (or, past the bound, fail) the jobs that are stale now; returns their ids."""
        now = time.monotonic() if now is None else now
        settings = self.ctx.settings
        stale: list[tuple[str, str]] = []
        for job_id in active_jobs(self.ctx):
            if self.ctx.store.exists(settings.results_bucket, keys.result_json(job_id)):
                self.ctx.store.delete(settings.work_bucket, keys.active_job(job_id))
                continue
            fingerprint = progress_fingerprint(self.ctx, job_id)
            previous = self._seen.get(job_id)
            if previous is None or previous[0] != fingerprint:
                self._seen[job_id] = (fingerprint, now)
            elif now - previous[1] >= settings.reconcile_stale_s:
                stale.append((job_id, fingerprint))
        if not stale or not self.broker_is_idle():
            return []
        handled = []
        for job_id, fingerprint in stale:
            resumes = resumes_without_progress(self.ctx, job_id, fingerprint)
            if resumes >= settings.max_resumes:
                log.warning("job %s: no progress after %d resumes; failing it", job_id, resumes)
                fail_stalled_job(self.ctx, job_id, resumes)
            else:
                event = ResumeEvent(fingerprint=fingerprint)
                key = keys.resume_event(job_id, uuid.uuid4().hex)
                write_model(self.ctx.store, settings.work_bucket, key, event)
                resume_job(self.ctx, job_id)
            self._seen.pop(job_id, None)
            handled.append(job_id)
        return handled

    def _loop(self) -> None:
        interval = self.ctx.settings.reconcile_interval_s
        while not self._stop.wait(interval):
            try:
                self.check_once()
            except Exception:  # the store or broker may be down: try again next time
                log.warning("reconciler check failed", exc_info=True)


def all_broker_queues() -> list[str]:
    """Every queue seglocate publishes to: cpu and one gpu queue per scorer."""
    return [QUEUE_CPU, *(gpu_queue(name) for name in SCORER_NAMES)]


def redis_broker_is_idle(settings: Settings) -> bool:
    """True when the Redis broker holds no queued and no unacknowledged message."""
    queued = sum(queue_lengths(settings, all_broker_queues()).values())
    return queued == 0 and unacked_count(settings) == 0

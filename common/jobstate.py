"""Reading and writing job state in the work bucket (the source of truth; Redis only carries
messages)."""

from __future__ import annotations

import logging

from common import keys
from common.errors import ObjectNotFoundError, SeglocateError
from common.pipeline import TASK_FINALIZE, PipelineContext
from common.schemas import (
    CancelMarker,
    JobSpec,
    JobTask,
    VideoRecord,
    VideoResult,
    VideoState,
    utc_now,
)
from common.storage import ObjectStore, read_model, read_model_or_none, write_model

log = logging.getLogger(__name__)


class JobNotFoundError(SeglocateError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id}: not found in the store")
        self.job_id = job_id


class JobStore:
    """Typed access to one store's job objects."""

    def __init__(self, store: ObjectStore, work_bucket: str, results_bucket: str) -> None:
        self.store = store
        self.work = work_bucket
        self.results = results_bucket

    def write_spec(self, spec: JobSpec) -> None:
        write_model(self.store, self.work, keys.job_spec(spec.job_id), spec)

    def spec(self, job_id: str) -> JobSpec:
        try:
            return read_model(self.store, self.work, keys.job_spec(job_id), JobSpec)
        except ObjectNotFoundError:
            raise JobNotFoundError(job_id) from None

    def record(self, job_id: str, video_index: int, video_name: str) -> VideoRecord:
        """The video's state; a fresh ``queued`` record if none is stored yet."""
        stored = read_model_or_none(
            self.store, self.work, keys.video_state(job_id, video_index), VideoRecord
        )
        return stored or VideoRecord(video_index=video_index, video=video_name)

    def stored_record(self, job_id: str, video_index: int) -> VideoRecord | None:
        return read_model_or_none(
            self.store, self.work, keys.video_state(job_id, video_index), VideoRecord
        )

    def write_record(self, job_id: str, record: VideoRecord) -> None:
        record.updated_at = utc_now()
        write_model(self.store, self.work, keys.video_state(job_id, record.video_index), record)

    def is_cancelled(self, job_id: str) -> bool:
        return self.store.exists(self.work, keys.job_cancelled(job_id))

    def cancel(self, job_id: str) -> None:
        write_model(self.store, self.work, keys.job_cancelled(job_id), CancelMarker(job_id=job_id))

    def scored_batches(self, job_id: str, video_index: int) -> set[int]:
        prefix = keys.batch_scores_prefix(job_id, video_index)
        return {
            keys.batch_index_from_key(key)
            for key in self.store.list_keys(self.work, prefix)
            if key.endswith(".json")
        }

    def video_result(self, job_id: str, video_index: int) -> VideoResult | None:
        return read_model_or_none(
            self.store, self.work, keys.video_result(job_id, video_index), VideoResult
        )

    def write_video_result(self, job_id: str, video_index: int, result: VideoResult) -> None:
        write_model(self.store, self.work, keys.video_result(job_id, video_index), result)


def job_store(ctx: PipelineContext) -> JobStore:
    return JobStore(ctx.store, ctx.settings.work_bucket, ctx.settings.results_bucket)


def fail_video(ctx: PipelineContext, spec: JobSpec, video_index: int, error: str) -> None:
    """Mark a video failed with ``error`` (one line naming the input and reason); finalize."""
    jobs = job_store(ctx)
    ref = spec.videos[video_index]
    record = jobs.record(spec.job_id, video_index, ref.name)
    if record.status.finished:
        return
    record.status = VideoState.failed
    record.error = error
    jobs.write_record(spec.job_id, record)
    log.warning("job %s video %s failed: %s", spec.job_id, ref.name, error)
    ctx.enqueue(TASK_FINALIZE, JobTask(job_id=spec.job_id))


def cancel_video(ctx: PipelineContext, spec: JobSpec, video_index: int) -> None:
    """Mark an unfinished video cancelled (its stored scores are kept); finalize."""
    jobs = job_store(ctx)
    ref = spec.videos[video_index]
    record = jobs.record(spec.job_id, video_index, ref.name)
    if not record.status.finished:
        record.status = VideoState.cancelled
        jobs.write_record(spec.job_id, record)
    ctx.enqueue(TASK_FINALIZE, JobTask(job_id=spec.job_id))

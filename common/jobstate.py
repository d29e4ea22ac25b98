"""Reading and writing job state in the work bucket (the source of truth; Redis only carries
messages). Progress is computed here, from the store, for every caller."""

from __future__ import annotations

import logging
from collections.abc import Callable

from common import keys
from common.errors import (
    CorruptObjectError,
    InvalidInputError,
    ObjectNotFoundError,
    SeglocateError,
)
from common.pipeline import TASK_FINALIZE, TASK_RECALL, PipelineContext
from common.schemas import (
    CancelMarker,
    Clip,
    FinalizeCursor,
    FinishedMarker,
    JobResult,
    JobSpec,
    JobState,
    JobStatus,
    JobTask,
    RecallSummary,
    ScorerInfo,
    VideoRecord,
    VideoRef,
    VideoResult,
    VideoState,
    VideoStatus,
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

    # -- the spec ----------------------------------------------------------------------------

    def write_spec(self, spec: JobSpec) -> None:
        write_model(self.store, self.work, keys.job_spec(spec.job_id), spec)

    def spec(self, job_id: str) -> JobSpec:
        try:
            return read_model(self.store, self.work, keys.job_spec(job_id), JobSpec)
        except ObjectNotFoundError:
            raise JobNotFoundError(job_id) from None

    # -- per-video records -------------------------------------------------------------------

    def record(self, job_id: str, video_index: int, video_name: str) -> VideoRecord:
        """The video's state; a fresh ``queued`` record if none is stored yet."""
        stored = self.stored_record(job_id, video_index)
        return stored or VideoRecord(video_index=video_index, video=video_name)

    def stored_record(self, job_id: str, video_index: int) -> VideoRecord | None:
        return read_model_or_none(
            self.store, self.work, keys.video_state(job_id, video_index), VideoRecord
        )

    def write_record(self, job_id: str, record: VideoRecord) -> None:
        record.updated_at = utc_now()
        write_model(self.store, self.work, keys.video_state(job_id, record.video_index), record)

    def finish(self, job_id: str, record: VideoRecord) -> None:
        """Write a record in an end state, then its finished marker (finalize counts these)."""
        assert record.status.finished, record.status
        self.write_record(job_id, record)
        marker = FinishedMarker(video_index=record.video_index, status=record.status)
        write_model(self.store, self.work, keys.video_finished(job_id, record.video_index), marker)

    def is_finished(self, job_id: str, video_index: int) -> bool:
        return self.store.exists(self.work, keys.video_finished(job_id, video_index))

    # -- cancellation ------------------------------------------------------------------------

    def is_cancelled(self, job_id: str) -> bool:
        return self.store.exists(self.work, keys.job_cancelled(job_id))

    def cancel(self, job_id: str) -> None:
        write_model(self.store, self.work, keys.job_cancelled(job_id), CancelMarker(job_id=job_id))

    # -- scores and results ------------------------------------------------------------------

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

    def result(self, job_id: str) -> JobResult | None:
        """The job's result JSON, None while it runs; a corrupt one raises
        :class:`CorruptObjectError` naming the object."""
        return read_model_or_none(self.store, self.results, keys.result_json(job_id), JobResult)

    def write_result(self, result: JobResult) -> None:
        """Write the final result and retire the job's active marker."""
        write_model(self.store, self.results, keys.result_json(result.job_id), result)
        self.store.delete(self.work, keys.active_job(result.job_id))

    # -- fan-in ------------------------------------------------------------------------------

    def finished_prefix(self, job_id: str, n_videos: int) -> int:
        """How many leading videos are finished: resumes from the stored cursor and checks each
        marker once, so finalizing a job of V videos costs O(V) store reads in all."""
        return self._prefix(
            keys.finalize_cursor(job_id), n_videos, lambda i: self.is_finished(job_id, i)
        )

    def mark_prepared(self, job_id: str, video_index: int) -> None:
        """A video of a recall search is ingested and waits for recall."""
        self._mark(keys.video_prepared(job_id, video_index))

    def prepared_prefix(self, job_id: str, n_videos: int) -> int:
        """How many leading videos are prepared for recall, or finished (a failed video is not
        waited for): O(V) store reads over the whole job, as :meth:`finished_prefix`."""
        return self._marker_prefix(job_id, n_videos, keys.prepared_cursor, keys.video_prepared)

    def mark_indexed(self, job_id: str, video_index: int) -> None:
        """A video of a recall search has its shard in the library index."""
        self._mark(keys.video_indexed(job_id, video_index))

    def is_indexed(self, job_id: str, video_index: int) -> bool:
        return self.store.exists(self.work, keys.video_indexed(job_id, video_index))

    def indexed_prefix(self, job_id: str, n_videos: int) -> int:
        """How many leading videos are indexed, or finished (as :meth:`prepared_prefix`)."""
        return self._marker_prefix(job_id, n_videos, keys.indexed_cursor, keys.video_indexed)

    def _mark(self, key: str) -> None:
        self.store.put_bytes(self.work, key, b"{}", "application/json")

    def _marker_prefix(
        self,
        job_id: str,
        n_videos: int,
        cursor: Callable[[str], str],
        marker: Callable[[str, int], str],
    ) -> int:
        def ready(index: int) -> bool:
            return self.store.exists(self.work, marker(job_id, index)) or (
                self.is_finished(job_id, index)
            )

        return self._prefix(cursor(job_id), n_videos, ready)

    def _prefix(self, cursor_key: str, n_videos: int, done: Callable[[int], bool]) -> int:
        cursor = read_model_or_none(self.store, self.work, cursor_key, FinalizeCursor)
        start = cursor.finished_prefix if cursor else 0
        count = start
        while count < n_videos and done(count):
            count += 1
        if count > start:
            write_model(self.store, self.work, cursor_key, FinalizeCursor(finished_prefix=count))
        return count

    # -- progress ----------------------------------------------------------------------------

    def progress(self, job_id: str) -> JobStatus:
        """State, windows done / total and each video's state: from the result once written,
        else from one listing of the job's objects plus each started video's record."""
        try:
            result = self.result(job_id)
        except CorruptObjectError:
            result = None
        if result is not None:
            return _status_of_result(result)
        spec = self.spec(job_id)
        listed = set(self.store.list_keys(self.work, keys.job_prefix(job_id) + "videos/"))
        videos = []
        for index, ref in enumerate(spec.videos):
            record = None
            if keys.video_state(job_id, index) in listed:
                record = self.stored_record(job_id, index)
            if record is None:
                videos.append(VideoStatus(video=ref.name, state=VideoState.queued))
                continue
            total = record.windows_to_score
            done = sum(
                end - first
                for b, (first, end) in enumerate(record.batches)
                if keys.batch_scores(job_id, index, b) in listed
            )
            if spec.options.purpose == "index":  # windows indexed, not scored
                total = len(record.windows)
                done = total if record.status == VideoState.succeeded else 0
            videos.append(
                VideoStatus(
                    video=ref.name,
                    state=record.status,
                    error=record.error,
                    windows_done=done,
                    windows_total=total,
                )
            )
        videos += [
            VideoStatus(video=r.video, state=VideoState.failed, error=r.error)
            for r in spec.rejected
        ]
        started = any(v.state != VideoState.queued for v in videos)
        return JobStatus(
            job_id=job_id,
            state=JobState.running if started else JobState.queued,
            windows_done=sum(v.windows_done for v in videos),
            windows_total=sum(v.windows_total for v in videos),
            videos=videos,
        )


def _status_of_result(result: JobResult) -> JobStatus:
    videos = [
        VideoStatus(
            video=v.video,
            state=v.status,
            error=v.error,
            windows_done=sum(w.reranked for w in v.windows),
            windows_total=sum(w.reranked for w in v.windows),
        )
        for v in result.videos
    ]
    total = sum(v.windows_total for v in videos)
    return JobStatus(
        job_id=result.job_id,
        state=result.status,
        windows_done=total,
        windows_total=total,
        videos=videos,
    )


def job_result(
    spec: JobSpec,
    state: JobState,
    scorer: ScorerInfo,
    clips: list[Clip] | None = None,
    videos: list[VideoResult] | None = None,
    error: str | None = None,
    recall: RecallSummary | None = None,
) -> JobResult:
    """The result JSON of a job in ``state`` (pure: builds, never writes)."""
    options = spec.options
    return JobResult(
        job_id=spec.job_id,
        status=state,
        query=spec.query,
        purpose=options.purpose,
        recall=recall,
        scorer=scorer,
        fps=options.fps,
        window=options.window,
        stride=options.effective_stride,
        top_k=options.top_k,
        min_score=options.min_score,
        clips=clips or [],
        videos=videos or [],
        created_at=spec.created_at,
        error=error,
        frame_pixels=options.frame_pixels,
    )


def failed_job_result(spec: JobSpec, error: str) -> JobResult:
    """The result of a job that failed as a whole (e.g. its tasks could not be enqueued)."""
    videos = [
        VideoResult(video=ref.name, status=VideoState.failed, error=error) for ref in spec.videos
    ]
    videos += [
        VideoResult(video=r.video, status=VideoState.failed, error=r.error) for r in spec.rejected
    ]
    scorer = ScorerInfo(name=spec.options.scorer)
    return job_result(spec, JobState.failed, scorer, videos=videos, error=error)


def job_store(ctx: PipelineContext) -> JobStore:
    return JobStore(ctx.store, ctx.settings.work_bucket, ctx.settings.results_bucket)


def video_ref(spec: JobSpec, video_index: int) -> VideoRef:
    """The job's video number ``video_index``; an error naming the job for a crafted index."""
    if not 0 <= video_index < len(spec.videos):
        raise InvalidInputError(
            f"job {spec.job_id}", f"has no video number {video_index} ({len(spec.videos)} videos)"
        )
    return spec.videos[video_index]


def fail_video(ctx: PipelineContext, spec: JobSpec, video_index: int, error: str) -> None:
    """Mark a video failed with ``error`` (one line naming the input and reason); finalize."""
    jobs = job_store(ctx)
    ref = spec.videos[video_index]
    record = jobs.record(spec.job_id, video_index, ref.name)
    if record.status.finished:
        return
    record.status = VideoState.failed
    record.error = error
    jobs.finish(spec.job_id, record)
    log.warning("video %s failed: %s", ref.name, error)
    if uses_recall(spec) and not ctx.store.exists(
        ctx.settings.work_bucket, keys.job_recall(spec.job_id)
    ):
        ctx.enqueue(TASK_RECALL, JobTask(job_id=spec.job_id))  # recall waits for every video
    ctx.enqueue(TASK_FINALIZE, JobTask(job_id=spec.job_id))


def uses_recall(spec: JobSpec) -> bool:
    """True for a search that reranks only what library recall chooses (not ``--recall all``)."""
    return spec.options.purpose == "search" and spec.options.recall != "all"


def cancel_video(ctx: PipelineContext, spec: JobSpec, video_index: int) -> None:
    """Mark an unfinished video cancelled (its stored scores are kept); finalize."""
    jobs = job_store(ctx)
    ref = spec.videos[video_index]
    record = jobs.record(spec.job_id, video_index, ref.name)
    if not record.status.finished:
        record.status = VideoState.cancelled
        jobs.finish(spec.job_id, record)
    ctx.enqueue(TASK_FINALIZE, JobTask(job_id=spec.job_id))

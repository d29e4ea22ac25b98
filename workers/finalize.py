"""The finalize step: write the job's result JSON once every video is finished."""

from __future__ import annotations

import logging

from common import keys
from common.jobstate import job_store
from common.pipeline import PipelineContext
from common.schemas import (
    BatchScores,
    JobResult,
    JobSpec,
    JobState,
    JobTask,
    ScorerInfo,
    VideoRecord,
    VideoResult,
    VideoState,
    WindowScore,
)
from common.storage import read_model, read_model_or_none, write_model
from workers.clips import rank_clips

log = logging.getLogger(__name__)


def _job_state(videos: list[VideoResult], cancelled: bool) -> JobState:
    if cancelled:
        return JobState.cancelled
    states = [v.status for v in videos]
    if states and all(s == VideoState.succeeded for s in states):
        return JobState.succeeded
    if any(s == VideoState.succeeded for s in states):
        return JobState.partial
    return JobState.failed


def finalize_job(ctx: PipelineContext, task: JobTask) -> None:
    """Write ``{job_id}/result.json`` once every video is finished (idempotent)."""
    jobs = job_store(ctx)
    spec = jobs.spec(task.job_id)
    cancelled = jobs.is_cancelled(task.job_id)
    if cancelled:
        finished = read_model_or_none(
            ctx.store, ctx.settings.results_bucket, keys.result_json(spec.job_id), JobResult
        )
        if finished is not None and finished.status != JobState.cancelled:
            return  # it had finished before it was cancelled: its result stands
    videos: list[VideoResult] = []
    scorer: ScorerInfo | None = None
    for index, ref in enumerate(spec.videos):
        record = jobs.record(task.job_id, index, ref.name)
        if not record.status.finished:
            if not cancelled:
                return  # not done yet; the last video's step calls us again
            record.status = VideoState.cancelled
            jobs.write_record(task.job_id, record)
        videos.append(_video_result(ctx, spec, index, record))
    for rejection in spec.rejected:
        videos.append(
            VideoResult(video=rejection.video, status=VideoState.failed, error=rejection.error)
        )
    scorer = _scorer_info(ctx, spec)
    clips = rank_clips([(v.video, v.clips) for v in videos], spec.options.top_k)
    result = JobResult(
        job_id=spec.job_id,
        status=_job_state(videos, cancelled),
        query=spec.query,
        scorer=scorer,
        fps=spec.options.fps,
        window=spec.options.window,
        stride=spec.options.effective_stride,
        top_k=spec.options.top_k,
        min_score=spec.options.min_score,
        clips=clips,
        videos=videos,
        created_at=spec.created_at,
        frame_pixels=spec.options.frame_pixels,
    )
    write_model(ctx.store, ctx.settings.results_bucket, keys.result_json(spec.job_id), result)
    ctx.store.delete(ctx.settings.work_bucket, keys.active_job(spec.job_id))
    log.info("job %s finished: %s, %d clips", spec.job_id, result.status, len(clips))


def _video_result(
    ctx: PipelineContext, spec: JobSpec, index: int, record: VideoRecord
) -> VideoResult:
    jobs = job_store(ctx)
    if record.status == VideoState.succeeded:
        stored = jobs.video_result(spec.job_id, index)
        if stored is not None:
            return stored
    windows: list[WindowScore] = []
    if record.status == VideoState.cancelled and record.batches:
        windows = _partial_windows(ctx, spec.job_id, index, record)
    return VideoResult(
        video=record.video,
        duration=record.duration,
        status=record.status,
        error=record.error,
        windows=windows,
    )


def _partial_windows(
    ctx: PipelineContext, job_id: str, index: int, record: VideoRecord
) -> list[WindowScore]:
    """Windows scored before a cancellation: kept in the result."""
    work = ctx.settings.work_bucket
    out: list[WindowScore] = []
    for batch_index in sorted(job_store(ctx).scored_batches(job_id, index)):
        batch = read_model(
            ctx.store, work, keys.batch_scores(job_id, index, batch_index), BatchScores
        )
        first, end = record.batches[batch_index]
        out += [
            WindowScore(start=span.start, end=span.end, score=score)
            for span, score in zip(record.windows[first:end], batch.scores, strict=True)
        ]
    return out


def _scorer_info(ctx: PipelineContext, spec: JobSpec) -> ScorerInfo:
    """The scorer that produced the scores (from a stored batch), else the requested name."""
    work = ctx.settings.work_bucket
    for index in range(len(spec.videos)):
        prefix = keys.batch_scores_prefix(spec.job_id, index)
        for key in ctx.store.list_keys(work, prefix):
            return read_model(ctx.store, work, key, BatchScores).scorer
    return ScorerInfo(name=spec.options.scorer)

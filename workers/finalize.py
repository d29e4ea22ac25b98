"""The finalize step: write the job's result JSON once every video is finished."""

from __future__ import annotations

import logging

from common import keys
from common.jobstate import job_result, job_store, uses_recall
from common.pipeline import PipelineContext
from common.schemas import (
    BatchScores,
    JobSpec,
    JobState,
    JobTask,
    RecallPlan,
    RecallSummary,
    ScorerInfo,
    VideoRecord,
    VideoResult,
    VideoState,
    WindowScore,
)
from common.storage import read_model, read_model_or_none
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
    """Write ``{job_id}/result.json`` once, when the last video is finished (or on cancel).

    Every finished video sends this step; each call costs O(1) store reads until the last
    video is done (:meth:`JobStore.finished_prefix`), and the result is built once. A result,
    once written, is final: later calls return at once.
    """
    jobs = job_store(ctx)
    if jobs.result(task.job_id) is not None:
        return
    spec = jobs.spec(task.job_id)
    cancelled = jobs.is_cancelled(task.job_id)
    n_videos = len(spec.videos)
    done = jobs.finished_prefix(task.job_id, n_videos)
    if done < n_videos and not cancelled:
        return  # not done yet; the last video's step calls us again
    videos: list[VideoResult] = []
    for index, ref in enumerate(spec.videos):
        record = jobs.record(task.job_id, index, ref.name)
        if not record.status.finished:
            record.status = VideoState.cancelled
            jobs.finish(task.job_id, record)
        videos.append(_video_result(ctx, spec, index, record))
    for rejection in spec.rejected:
        videos.append(
            VideoResult(video=rejection.video, status=VideoState.failed, error=rejection.error)
        )
    clips = rank_clips([(v.video, v.clips) for v in videos], spec.options.top_k)
    state = _job_state(videos, cancelled)
    result = job_result(
        spec, state, _scorer_info(ctx, spec), clips=clips, videos=videos,
        recall=_recall_summary(ctx, spec, videos),
    )  # fmt: skip
    jobs.write_result(result)
    log.info("job finished: %s, %d clips", result.status, len(clips))


def _recall_summary(
    ctx: PipelineContext, spec: JobSpec, videos: list[VideoResult]
) -> RecallSummary | None:
    """How recall chose the windows scored (None for a full scan or an index job)."""
    if not uses_recall(spec):
        return None
    work = ctx.settings.work_bucket
    plan = read_model_or_none(ctx.store, work, keys.job_recall(spec.job_id), RecallPlan)
    if plan is None:  # every video failed or was cancelled before recall
        return None
    return RecallSummary(
        budget=plan.budget,
        reranked=sum(w.reranked for v in videos for w in v.windows),
        windows=plan.windows,
        signals=plan.signals,
        note=plan.note,
    )


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
        spans = [record.windows[i] for i in record.batch_windows(batch_index)]
        out += [
            WindowScore(start=span.start, end=span.end, score=score)
            for span, score in zip(spans, batch.scores, strict=True)
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

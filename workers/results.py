"""The CPU-queue steps after scoring: aggregate a video into clips, then write the job result."""

from __future__ import annotations

import logging

from common import keys
from common.frames import FrameReader, encode_jpeg, read_manifest
from common.jobstate import job_store
from common.pipeline import TASK_FINALIZE, PipelineContext
from common.schemas import (
    BatchScores,
    Clip,
    JobResult,
    JobSpec,
    JobState,
    JobTask,
    Refinement,
    ScorerInfo,
    VideoPlan,
    VideoResult,
    VideoState,
    VideoTask,
    WindowScore,
)
from common.storage import read_model, read_model_or_none, write_model
from common.windows import frames_in_window
from workers.aggregate import merge_windows, rank_clips, refine_clip

log = logging.getLogger(__name__)

#: Longest side of a clip thumbnail, pixels.
THUMBNAIL_MAX_SIDE = 480


def collect_window_scores(
    ctx: PipelineContext, task: VideoTask, plan: VideoPlan
) -> tuple[list[WindowScore], ScorerInfo | None] | None:
    """Every window's score, or None while some batch is still missing. Each window once."""
    work = ctx.settings.work_bucket
    scores: list[float | None] = [None] * len(plan.windows)
    scorer: ScorerInfo | None = None
    for batch_index, (first, end) in enumerate(plan.batches):
        key = keys.batch_scores(task.job_id, task.video_index, batch_index)
        batch = read_model_or_none(ctx.store, work, key, BatchScores)
        if batch is None:
            return None
        scorer = batch.scorer
        if batch.first_window != first or len(batch.scores) != end - first:
            raise ValueError(f"batch {key} does not match the plan's windows [{first}, {end})")
        scores[first:end] = batch.scores
    windows = [
        WindowScore(start=span.start, end=span.end, score=score)
        for span, score in zip(plan.windows, scores, strict=True)
        if score is not None
    ]
    return windows, scorer


def _thumbnail(
    ctx: PipelineContext, plan: VideoPlan, reader: FrameReader, window: WindowScore, key: str
) -> str:
    indices = frames_in_window(reader.manifest.frame_times, window.start, window.end)
    frame = reader.frame(indices[len(indices) // 2])
    image = frame.image.copy()
    image.thumbnail((THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE))
    ctx.store.put_bytes(
        ctx.settings.results_bucket, key, encode_jpeg(image, quality=85), "image/jpeg"
    )
    return key


def aggregate_video(ctx: PipelineContext, task: VideoTask) -> None:
    """Merge a fully scored video's windows into clips with thumbnails; mark it succeeded."""
    jobs = job_store(ctx)
    spec = jobs.spec(task.job_id)
    plan = jobs.plan(task.job_id, task.video_index, spec.videos[task.video_index].name)
    if plan.status.finished:
        ctx.enqueue(TASK_FINALIZE, JobTask(job_id=task.job_id))
        return
    if plan.status != VideoState.scoring:
        return
    collected = collect_window_scores(ctx, task, plan)
    if collected is None:
        return  # another batch is still being scored; its task will call us again
    windows, _scorer = collected
    options = spec.options
    spans = merge_windows(windows, min_score=options.min_score, top_k=options.top_k)
    refinement = read_model_or_none(
        ctx.store, ctx.settings.work_bucket, keys.refinement(task.job_id, task.video_index),
        Refinement,
    )  # fmt: skip
    if refinement is not None:
        spans = [
            refine_clip(span, refinement.probes, windows, min_score=options.min_score)
            for span in spans
        ]
    assert plan.content_hash and plan.sampling_id
    manifest = read_manifest(
        ctx.store, ctx.settings.work_bucket, plan.content_hash, plan.sampling_id
    )
    reader = FrameReader(ctx.store, ctx.settings.work_bucket, manifest) if manifest else None
    clips = []
    for number, span in enumerate(spans, 1):
        thumb = None
        if reader is not None:
            thumb = _thumbnail(
                ctx,
                plan,
                reader,
                windows[span.peak_window],
                keys.thumbnail(task.job_id, task.video_index, number),
            )
        clips.append(
            Clip(
                video=plan.video,
                start=round(span.start, 3),
                end=round(span.end, 3),
                score=round(span.score, 2),
                rank=number,
                thumbnail=thumb,
            )
        )
    result = VideoResult(
        video=plan.video,
        duration=plan.duration,
        status=VideoState.succeeded,
        clips=clips,
        windows=windows,
    )
    jobs.write_video_result(task.job_id, task.video_index, result)
    plan.status = VideoState.succeeded
    jobs.write_plan(task.job_id, plan)
    ctx.count("videos_aggregated")
    ctx.enqueue(TASK_FINALIZE, JobTask(job_id=task.job_id))


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
        plan = jobs.plan(task.job_id, index, ref.name)
        if not plan.status.finished:
            if not cancelled:
                return  # not done yet; the last video's step calls us again
            plan.status = VideoState.cancelled
            jobs.write_plan(task.job_id, plan)
        videos.append(_video_result(ctx, spec, index, plan))
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
    )
    write_model(ctx.store, ctx.settings.results_bucket, keys.result_json(spec.job_id), result)
    ctx.store.delete(ctx.settings.work_bucket, keys.active_job(spec.job_id))
    log.info("job %s finished: %s, %d clips", spec.job_id, result.status, len(clips))


def _video_result(ctx: PipelineContext, spec: JobSpec, index: int, plan: VideoPlan) -> VideoResult:
    jobs = job_store(ctx)
    if plan.status == VideoState.succeeded:
        stored = jobs.video_result(spec.job_id, index)
        if stored is not None:
            return stored
    windows: list[WindowScore] = []
    if plan.status == VideoState.cancelled and plan.batches:
        windows = _partial_windows(ctx, spec.job_id, index, plan)
    return VideoResult(
        video=plan.video,
        duration=plan.duration,
        status=plan.status,
        error=plan.error,
        windows=windows,
    )


def _partial_windows(
    ctx: PipelineContext, job_id: str, index: int, plan: VideoPlan
) -> list[WindowScore]:
    """Windows scored before a cancellation: kept in the result."""
    work = ctx.settings.work_bucket
    out: list[WindowScore] = []
    for batch_index in sorted(job_store(ctx).scored_batches(job_id, index)):
        batch = read_model(
            ctx.store, work, keys.batch_scores(job_id, index, batch_index), BatchScores
        )
        first, end = plan.batches[batch_index]
        out += [
            WindowScore(start=span.start, end=span.end, score=score)
            for span, score in zip(plan.windows[first:end], batch.scores, strict=True)
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

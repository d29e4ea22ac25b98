"""Corrupt objects are deleted and rebuilt once: a broken frame-cache chunk, a batch's scores,
a stored video record, cached features or refinement probes.

The frame cache is shared by every job on the same video, so a corrupt chunk would otherwise
fail (or hang) every later job on it: the whole cache entry is dropped (manifest first, so no
reader trusts the rest) and the video is ingested again. Each job rebuilds a given object at
most once (a marker under the job); a second corruption of the same object fails the video.
"""

from __future__ import annotations

import logging
import re

from common import keys
from common.errors import CorruptObjectError
from common.jobstate import job_store
from common.pipeline import (
    TASK_AGGREGATE,
    TASK_FINALIZE,
    TASK_INGEST,
    TASK_PREPARE,
    TASK_REFINE,
    TASK_SCORE,
    PipelineContext,
)
from common.schemas import BatchTask, JobTask, VideoState, VideoTask
from workers.runner import StepMessage

log = logging.getLogger(__name__)

_FRAMES = re.compile(r"^frames/(?P<hash>[^/]+)/(?P<sampling>[^/]+)/")
_VIDEO_OBJECT = re.compile(
    r"^jobs/[^/]+/videos/(?P<video>\d{5})/(?P<what>state\.json|result\.json|refine\.json|"
    r"scores/(?P<batch>\d{5})\.json)$"
)


def rebuild_corrupt_object(
    ctx: PipelineContext, message: StepMessage, error: CorruptObjectError
) -> bool:
    """Delete the corrupt object and re-enqueue what rebuilds it; False if this job already
    rebuilt it once (or it cannot be rebuilt: the job spec, an input video)."""
    work = ctx.settings.work_bucket
    if error.bucket != work or error.key.endswith("spec.json"):
        return False
    marker = keys.repair_marker(message.job_id, error.bucket, error.key)
    if ctx.store.exists(work, marker):
        return False
    ctx.store.put_bytes(work, marker, b"{}", "application/json")
    log.warning("%s; deleting it and rebuilding it", error)
    frames = _FRAMES.match(error.key)
    if frames:
        _drop_frame_cache(ctx, frames["hash"], frames["sampling"])
    else:
        ctx.store.delete(work, error.key)
    video = _VIDEO_OBJECT.match(error.key)
    index = int(video["video"]) if video else message.video_index
    transcript = error.key.startswith("transcripts/")
    if frames or transcript or (video and video["what"] == "state.json"):
        _restart_video(ctx, message, index)
    elif video and video["what"] == "result.json":
        _reaggregate_video(ctx, message, index)
    elif video and video["batch"] is not None and index is not None:
        task = _video_task(ctx, message, index)
        batch = BatchTask(**task.model_dump(), batch_index=int(video["batch"]))
        ctx.enqueue(TASK_SCORE, batch)  # scoring it again sends the video's next step
    elif video and video["what"] == "refine.json" and index is not None:
        ctx.enqueue(TASK_REFINE, _video_task(ctx, message, index))
    elif error.key.startswith("features/") and index is not None:
        ctx.enqueue(TASK_PREPARE, _video_task(ctx, message, index))
    else:  # an identity record and the like: the same step redoes it
        ctx.enqueue(message.task_name, message.payload)
    return True


def _drop_frame_cache(ctx: PipelineContext, content_hash: str, sampling: str) -> None:
    work = ctx.settings.work_bucket
    ctx.store.delete(work, keys.frames_manifest(content_hash, sampling))
    for key in list(ctx.store.list_keys(work, keys.frames_prefix(content_hash, sampling))):
        ctx.store.delete(work, key)


def _video_task(ctx: PipelineContext, message: StepMessage, index: int) -> VideoTask:
    """A task for video ``index`` routed to the job's scorer (a job-level message such as
    finalize does not carry the scorer: read it from the spec)."""
    scorer = message.scorer or job_store(ctx).spec(message.job_id).options.scorer
    return VideoTask(job_id=message.job_id, video_index=index, scorer=scorer)


def _restart_video(ctx: PipelineContext, message: StepMessage, index: int | None) -> None:
    """Back to ``queued`` and ingest again: the frames are re-sampled; stored scores stay."""
    if index is None:
        ctx.enqueue(TASK_FINALIZE, JobTask(job_id=message.job_id))
        return
    jobs = job_store(ctx)
    record = jobs.stored_record(message.job_id, index)
    if record is not None and not record.status.finished:
        record.status = VideoState.queued
        jobs.write_record(message.job_id, record)
    ctx.enqueue(TASK_INGEST, _video_task(ctx, message, index))


def _reaggregate_video(ctx: PipelineContext, message: StepMessage, index: int | None) -> None:
    """A corrupt per-video result: aggregate the video again from its stored scores."""
    if index is None:
        return
    jobs = job_store(ctx)
    record = jobs.stored_record(message.job_id, index)
    if record is not None:
        record.status = VideoState.scoring
        jobs.write_record(message.job_id, record)
        ctx.store.delete(ctx.settings.work_bucket, keys.video_finished(message.job_id, index))
    ctx.enqueue(TASK_AGGREGATE, _video_task(ctx, message, index))

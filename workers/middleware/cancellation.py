"""Cancellation middleware: no step of a cancelled job runs, except the one that finalizes it."""

from __future__ import annotations

from common.jobstate import cancel_video, job_store
from common.pipeline import TASK_FINALIZE, PipelineContext
from workers.runner import Middleware, SkipStep, StepMessage


class CancellationCheck(Middleware):
    """Before each step of a cancelled job: mark its video cancelled (its stored scores are
    kept) and skip it. One ``exists`` call per step."""

    def before_step(self, ctx: PipelineContext, message: StepMessage) -> None:
        if message.task_name == TASK_FINALIZE:
            return
        jobs = job_store(ctx)
        if not jobs.is_cancelled(message.job_id):
            return
        if message.video_index is not None:
            spec = jobs.spec(message.job_id)
            if message.video_index < len(spec.videos):
                cancel_video(ctx, spec, message.video_index)
        raise SkipStep("the job was cancelled")

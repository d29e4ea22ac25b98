"""What giving up on a step means: its video fails with the reason, or, for a job-level step,
the job does. Shared by the failure policy and the poison guard, so both say it the same way."""

from __future__ import annotations

import logging

from common import keys
from common.jobstate import fail_video, failed_job_result, job_store
from common.pipeline import PipelineContext
from workers.runner import StepMessage

log = logging.getLogger(__name__)


def give_up(
    ctx: PipelineContext, message: StepMessage, reason: str, names_subject: bool = False
) -> None:
    """Fail the message's video with ``reason``, or its job. The reason is prefixed with the
    video's name unless it names its subject already (``names_subject``: an input error such
    as ``query image cat.png: not a readable image``)."""
    jobs = job_store(ctx)
    try:
        spec = jobs.spec(message.job_id)
    except Exception:  # no readable spec: nothing to report against; stop the reconciler
        log.error("job %s: giving up on %s (%s); its spec is unreadable", message.job_id,
                  message.step_id, reason)  # fmt: skip
        ctx.store.delete(ctx.settings.work_bucket, keys.active_job(message.job_id))
        return
    index = message.video_index
    if index is not None and index >= len(spec.videos):  # a crafted message: nothing to fail
        log.error("dropped %s: %s", message.step_id, reason)
        return
    if index is not None:
        name = spec.videos[index].name
        named = names_subject or reason.startswith(name)
        fail_video(ctx, spec, index, reason if named else f"{name}: {reason}")
        return
    if jobs.result(message.job_id) is None:
        result = failed_job_result(spec, f"job {spec.job_id}: {reason}")
        # Videos that did finish keep their own outcome.
        for i, video in enumerate(result.videos[: len(spec.videos)]):
            record = jobs.stored_record(spec.job_id, i)
            if record is not None and record.status.finished:
                video.status, video.error = record.status, record.error
        jobs.write_result(result)

"""The poison-message guard: a task that keeps killing its worker is stopped, not looped.

With late acks, a message whose worker dies is redelivered. Every start of a video task is
counted in the store; a start that never finished (the worker died) counts against the
message. After ``max_redeliveries`` such deaths the video is failed with the reason.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel

from common import keys
from common.jobstate import fail_video, job_store
from common.pipeline import PipelineContext
from common.storage import read_model_or_none, write_model

log = logging.getLogger(__name__)


class AttemptRecord(BaseModel):
    started: int = 0  #: executions begun
    ended: int = 0  #: executions that returned or raised (did not kill the worker)


def attempts_key(job_id: str, task_name: str, payload: dict[str, Any]) -> str:
    parts = [task_name.rsplit(".", 1)[-1], str(payload.get("video_index", "job"))]
    if "batch_index" in payload:
        parts.append(str(payload["batch_index"]))
    return f"{keys.job_prefix(job_id)}attempts/{'-'.join(parts)}.json"


class RedeliveryGuard:
    """Counts starts and ends of one message's executions in the work bucket."""

    def __init__(self, ctx: PipelineContext, task_name: str, payload: dict[str, Any]) -> None:
        self.ctx = ctx
        self.task_name = task_name
        self.payload = payload
        self.job_id = str(payload.get("job_id", ""))
        self.key = attempts_key(self.job_id, task_name, payload)
        self.record = AttemptRecord()

    def admit(self) -> bool:
        """False (and the video failed) if this message already killed too many workers."""
        work = self.ctx.settings.work_bucket
        self.record = (
            read_model_or_none(self.ctx.store, work, self.key, AttemptRecord) or AttemptRecord()
        )
        deaths = self.record.started - self.record.ended
        limit = self.ctx.settings.max_redeliveries
        if deaths > limit and "video_index" in self.payload:
            spec = job_store(self.ctx).spec(self.job_id)
            index = int(self.payload["video_index"])
            fail_video(
                self.ctx,
                spec,
                index,
                f"{spec.videos[index].name}: a worker died {deaths} times running "
                f"{self.task_name} on it; giving up (poison message)",
            )
            return False
        self.record.started += 1
        write_model(self.ctx.store, work, self.key, self.record)
        return True

    def done(self) -> None:
        """Record that this execution ended without killing the worker."""
        self.record.ended += 1
        try:
            write_model(self.ctx.store, self.ctx.settings.work_bucket, self.key, self.record)
        except Exception:  # the next start will count one phantom death at worst
            log.warning("could not record the end of %s", self.key)

"""Every pipeline step by task name, with its payload type: what both runners execute."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from common.pipeline import (
    TASK_AGGREGATE,
    TASK_FINALIZE,
    TASK_INGEST,
    TASK_PREPARE,
    TASK_REFINE,
    TASK_SCORE,
    PipelineContext,
)
from common.schemas import BatchTask, JobTask, VideoTask
from producer.ingest import ingest_video
from workers.aggregate import aggregate_video
from workers.finalize import finalize_job
from workers.scoring import prepare_video, refine_video, score_batch

Step = Callable[[PipelineContext, Any], None]

#: Task name -> (payload model, step function).
STEPS: dict[str, tuple[type[BaseModel], Step]] = {
    TASK_INGEST: (VideoTask, ingest_video),
    TASK_PREPARE: (VideoTask, prepare_video),
    TASK_SCORE: (BatchTask, score_batch),
    TASK_REFINE: (VideoTask, refine_video),
    TASK_AGGREGATE: (VideoTask, aggregate_video),
    TASK_FINALIZE: (JobTask, finalize_job),
}


def run_step(ctx: PipelineContext, task_name: str, payload: dict[str, Any] | BaseModel) -> None:
    """Validate ``payload`` as the task's model and run the step."""
    model_type, step = STEPS[task_name]
    data = payload.model_dump() if isinstance(payload, BaseModel) else payload
    step(ctx, model_type.model_validate(data))

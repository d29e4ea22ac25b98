"""Every pipeline step by task name, with its payload type: what the step runner executes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from common.pipeline import (
    TASK_AGGREGATE,
    TASK_EMBED_QUERY,
    TASK_FINALIZE,
    TASK_INDEX,
    TASK_INGEST,
    TASK_PREPARE,
    TASK_RECALL,
    TASK_REFINE,
    TASK_SCORE,
    PipelineContext,
)
from common.schemas import BatchTask, JobTask, VideoTask
from producer.ingest import ingest_video
from workers.aggregate import aggregate_video
from workers.finalize import finalize_job
from workers.library import embed_query, index_for_recall, recall_job
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
    TASK_INDEX: (VideoTask, index_for_recall),
    TASK_RECALL: (JobTask, recall_job),
    TASK_EMBED_QUERY: (VideoTask, embed_query),
}


def step_name(task_name: str) -> str:
    """``seglocate.score_batch`` -> ``score_batch``."""
    return task_name.rsplit(".", 1)[-1]

"""Embedded mode: the same steps as the Celery workers, run in this process from a local queue."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from pydantic import BaseModel

from common.jobstate import fail_video, job_store
from common.pipeline import PipelineContext
from common.schemas import VideoTask
from common.settings import Settings
from common.storage import ObjectStore
from workers.resident import resident_scorer
from workers.steps import run_step

log = logging.getLogger(__name__)


class EmbeddedRunner:
    """Runs steps in FIFO order in-process until the queue is empty."""

    def __init__(self, settings: Settings, store: ObjectStore) -> None:
        self._queue: deque[tuple[str, BaseModel]] = deque()
        self.ctx = PipelineContext(
            settings=settings,
            store=store,
            enqueue=self._enqueue,
            scorer_for=lambda name: resident_scorer(name, settings),
        )
        self.on_step: Callable[[str, BaseModel], None] | None = None

    def _enqueue(self, task_name: str, payload: BaseModel) -> None:
        self._queue.append((task_name, payload))

    def submit(self, task_name: str, payload: BaseModel) -> None:
        self._enqueue(task_name, payload)

    def run(self) -> None:
        """Drain the queue, running each step; steps enqueue their successors."""
        while self._queue:
            task_name, payload = self._queue.popleft()
            try:
                run_step(self.ctx, task_name, payload)
            except Exception as exc:
                if not isinstance(payload, VideoTask):
                    raise
                # One video's unexpected failure must not lose the rest of the job.
                log.exception("step %s failed for %s", task_name, payload)
                spec = job_store(self.ctx).spec(payload.job_id)
                fail_video(
                    self.ctx,
                    spec,
                    payload.video_index,
                    f"{spec.videos[payload.video_index].name}: {type(exc).__name__}: {exc}",
                )
            if self.on_step is not None:
                self.on_step(task_name, payload)

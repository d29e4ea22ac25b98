"""Embedded mode: the same steps as the Celery workers, through the same runner and middleware,
run in this process from a local queue."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from pydantic import BaseModel

from common.pipeline import PipelineContext
from common.settings import Settings
from common.storage import ObjectStore
from workers.middleware import default_middleware
from workers.middleware.metrics import StepMetrics
from workers.resident import resident_scorer
from workers.runner import StepOutcome, StepRunner

log = logging.getLogger(__name__)

#: Longest pause before a retry in embedded mode, seconds (the caller is waiting on us).
MAX_EMBEDDED_BACKOFF_S = 5.0


class EmbeddedRunner:
    """Runs steps in FIFO order in-process until the queue is empty."""

    def __init__(
        self, settings: Settings, store: ObjectStore, runner: StepRunner | None = None
    ) -> None:
        #: (task name, payload, retries so far)
        self._queue: deque[tuple[str, BaseModel, int]] = deque()
        self.ctx = PipelineContext(
            settings=settings,
            store=store,
            enqueue=self._enqueue,
            scorer_for=lambda name: resident_scorer(name, settings),
        )
        self.runner = runner or StepRunner(default_middleware([StepMetrics()]))
        self.on_step: Callable[[str, BaseModel], None] | None = None

    def _enqueue(self, task_name: str, payload: BaseModel) -> None:
        self._queue.append((task_name, payload, 0))

    def submit(self, task_name: str, payload: BaseModel) -> None:
        self._enqueue(task_name, payload)

    def run(self) -> None:
        """Drain the queue; steps enqueue their successors; retries go to the back."""
        while self._queue:
            task_name, payload, retries = self._queue.popleft()
            message = self.runner.run(self.ctx, task_name, payload, retries=retries)
            if message.outcome == StepOutcome.retried:
                time.sleep(min(message.retry_in_s, MAX_EMBEDDED_BACKOFF_S))
                self._queue.append((task_name, payload, retries + 1))
            if self.on_step is not None:
                self.on_step(task_name, payload)

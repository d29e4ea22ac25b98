"""Log context middleware: every line logged while a step runs carries ``job=`` and ``video=``."""

from __future__ import annotations

import contextlib

from common.logcontext import work_context
from common.pipeline import PipelineContext
from workers.runner import Middleware, StepMessage


class LogContext(Middleware):
    """Enters :func:`common.logcontext.work_context` around the step (ids already validated)."""

    def before_step(self, ctx: PipelineContext, message: StepMessage) -> None:
        stack = contextlib.ExitStack()
        stack.enter_context(work_context(message.job_id, message.video_index))
        message.notes["log_context"] = stack

    def after_step(self, ctx: PipelineContext, message: StepMessage) -> None:
        stack = message.notes.pop("log_context", None)
        if stack is not None:
            stack.close()

"""The poison-message guard: a step that keeps killing its worker, or keeps failing, is
stopped and its video failed, instead of being redelivered for ever.

With late acks, a message whose worker dies is redelivered. Every execution is recorded in the
store (:mod:`workers.attempts`): a start without an end is a death. Once a step has failed more
than ``SEGLOCATE_MAX_REDELIVERIES`` times (deaths plus errors the failure policy counted), the
next delivery fails its video (or, for a job-level step, the job) with the reason.
"""

from __future__ import annotations

import contextlib
import logging

from common.pipeline import PipelineContext
from workers.attempts import AttemptLog
from workers.middleware.giving_up import give_up
from workers.runner import Middleware, SkipStep, StepMessage

log = logging.getLogger(__name__)


class PoisonGuard(Middleware):
    """Counts executions in the store; refuses a step that failed too often (see module)."""

    def before_step(self, ctx: PipelineContext, message: StepMessage) -> None:
        attempts = AttemptLog(ctx.store, ctx.settings.work_bucket, message.job_id, message.step_id)
        counts = attempts.counts()
        message.notes["attempts_before"] = counts
        if counts.failed > ctx.settings.max_redeliveries:
            if counts.deaths >= counts.failures:
                reason = (
                    f"a worker died {counts.deaths} times running {message.task_name} on it; "
                    "giving up (poison message)"
                )
            else:
                reason = f"{message.step} failed {counts.failed} times; giving up"
            give_up(ctx, message, reason)
            raise SkipStep(reason)
        message.notes["attempt_token"] = attempts.record("start")
        message.notes["attempt_log"] = attempts

    def after_step(self, ctx: PipelineContext, message: StepMessage) -> None:
        token = message.notes.get("attempt_token")
        attempts = message.notes.get("attempt_log")
        if token is None or attempts is None:
            return
        with contextlib.suppress(Exception):  # at worst the next start counts a phantom death
            attempts.record("end", token)

"""Counters middleware: steps run, by step and outcome, in the process's pipeline counters."""

from __future__ import annotations

from common.pipeline import PipelineContext
from workers.runner import Middleware, StepMessage


class StepCounters(Middleware):
    """Adds one to ``steps.<step>.<outcome>`` per execution (read by tests and ``stats``)."""

    def after_step(self, ctx: PipelineContext, message: StepMessage) -> None:
        outcome = message.outcome.value if message.outcome else "error"
        ctx.count(f"steps.{message.step}.{outcome}")

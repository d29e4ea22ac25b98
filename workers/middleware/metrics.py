"""Metrics middleware: every step's outcome and duration, and the counts steps report, as
Prometheus metrics (:mod:`workers.metrics`). Does nothing while metrics are off.

It sits outside the failure policy, so it sees each execution's final outcome. The counts a
step reports through :meth:`common.pipeline.PipelineContext.count` (windows scored, frames
decoded, frames sent to OCR ...) are labelled with the scorer of the step running them.
"""

from __future__ import annotations

import threading

from common.pipeline import PipelineContext
from workers import metrics
from workers.runner import Middleware, StepMessage, StepOutcome

#: Outcomes whose duration is not a step's latency (it did not run, or was cut short).
_NOT_TIMED = (StepOutcome.skipped, StepOutcome.handed_back)


class _CurrentScorer(threading.local):
    scorer = ""


class MetricsObserver:
    """A :class:`common.pipeline.PipelineObserver` that records into this process's metrics."""

    def __init__(self) -> None:
        self.current = _CurrentScorer()

    def count(self, name: str, n: int) -> None:
        recorded = metrics.active()
        if recorded is not None:
            recorded.count(name, n, self.current.scorer)

    def observe(self, name: str, value: float) -> None:
        recorded = metrics.active()
        if recorded is not None:
            recorded.observe(name, value, self.current.scorer)


class StepMetrics(Middleware):
    """``seglocate_steps_total``, ``seglocate_step_duration_seconds`` and
    ``seglocate_steps_in_progress``; attaches a :class:`MetricsObserver` to the context."""

    def __init__(self) -> None:
        self.observer = MetricsObserver()

    def before_step(self, ctx: PipelineContext, message: StepMessage) -> None:
        recorded = metrics.active()
        if recorded is None:
            return
        if ctx.observer is None:
            ctx.observer = self.observer
        self.observer.current.scorer = message.scorer
        recorded.steps_in_progress.labels(step=message.step, scorer=message.scorer).inc()
        message.notes["metrics_in_progress"] = True

    def after_step(self, ctx: PipelineContext, message: StepMessage) -> None:
        recorded = metrics.active()
        if recorded is None:
            return
        labels = {"step": message.step, "scorer": message.scorer}
        if message.notes.pop("metrics_in_progress", False):
            recorded.steps_in_progress.labels(**labels).dec()
        outcome = message.outcome.value if message.outcome else "error"
        recorded.steps.labels(**labels, outcome=outcome).inc()
        if message.outcome not in _NOT_TIMED:
            recorded.step_duration.labels(**labels).observe(message.duration_s)
        self.observer.current.scorer = ""

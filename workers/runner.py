"""One step runner for both modes: every step runs inside the same stack of middleware.

Embedded mode (:mod:`workers.embedded`) and the Celery tasks (:mod:`workers.celery_app`) both
call :meth:`StepRunner.run` with a task name and its payload. What surrounds a step lives in
middleware, in the way dramatiq builds its pipeline (``workers/middleware/``): the log context,
counters, the cancellation check, the poison-message guard and the failure policy. The runner
returns the :class:`StepMessage` it ran; its ``outcome`` tells the caller what is left to do:
nothing, or run the same message again after ``retry_in_s`` seconds.

Middleware hooks run in list order before the step and in reverse order after it, so the
first middleware wraps all the others (the log context is outermost, the failure policy
innermost: it settles the outcome that counters and metrics then see).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError

from common.pipeline import PipelineContext
from workers.steps import STEPS, Step, step_name

log = logging.getLogger(__name__)


class StepOutcome(StrEnum):
    """How one execution of a step ended."""

    ok = "ok"  #: the step returned
    retried = "retried"  #: it raised an error worth another try; run it again later
    rebuilt = "rebuilt"  #: it met a corrupt object, deleted it and re-enqueued its rebuild
    failed = "failed"  #: it cannot succeed: its video (or job) was failed with the reason
    skipped = "skipped"  #: a middleware declined to run it (job cancelled, poison message)
    handed_back = "handed_back"  #: interrupted by a worker shutdown; its message goes back


class SkipStep(Exception):
    """Raised by a middleware's ``before_step`` to not run the step (the reason is logged)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class StepMessage:
    """One delivery of one step, as the middleware sees it."""

    #: Full task name, e.g. ``seglocate.score_batch``.
    task_name: str
    #: The validated payload (a :class:`common.schemas.JobTask`, ``VideoTask`` or ``BatchTask``).
    payload: Any
    #: Times this message was retried after a transient error (0 on the first delivery).
    retries: int = 0
    #: Monotonic clock at the start of the step, seconds.
    started_at: float = 0.0
    #: Seconds the step took (set after it ran).
    duration_s: float = 0.0
    outcome: StepOutcome | None = None
    #: What the step raised, if anything.
    error: BaseException | None = None
    #: With ``outcome == retried``: run the message again after this many seconds.
    retry_in_s: float = 0.0
    #: Free-form notes middleware leave for each other (e.g. the attempt token).
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def step(self) -> str:
        """Short step name, e.g. ``score_batch``."""
        return step_name(self.task_name)

    @property
    def job_id(self) -> str:
        return str(self.payload.job_id)

    @property
    def video_index(self) -> int | None:
        return getattr(self.payload, "video_index", None)

    @property
    def scorer(self) -> str:
        return str(getattr(self.payload, "scorer", "") or "")

    @property
    def step_id(self) -> str:
        """The step's identity within its job: ``name``, ``name-VVVVV`` or ``name-VVVVV-BBBBB``."""
        parts = [self.step]
        if self.video_index is not None:
            parts.append(f"{self.video_index:05d}")
        batch = getattr(self.payload, "batch_index", None)
        if batch is not None:
            parts.append(f"{batch:05d}")
        return "-".join(parts)


class Middleware:
    """Base class: hooks that do nothing. Subclasses override what they need."""

    def before_step(self, ctx: PipelineContext, message: StepMessage) -> None:
        """Runs before the step; raise :class:`SkipStep` to not run it."""

    def after_step(self, ctx: PipelineContext, message: StepMessage) -> None:
        """Runs after the step, after a skip, or after a before hook raised (then the hooks
        of middleware inside it never ran: check your own notes). ``message.outcome`` is set
        by the failure policy, so it is None only inside it."""


class InvalidMessageError(ValueError):
    """A message whose task name or payload is not one of ours (crafted or corrupt)."""


class StepRunner:
    """Runs steps by task name through a fixed stack of middleware."""

    def __init__(
        self,
        middleware: Sequence[Middleware],
        steps: dict[str, tuple[type[BaseModel], Step]] | None = None,
    ) -> None:
        """``steps`` defaults to the pipeline's :data:`workers.steps.STEPS`."""
        self.middleware = list(middleware)
        self.steps = STEPS if steps is None else steps

    def message(
        self, task_name: str, payload: dict[str, Any] | BaseModel, retries: int = 0
    ) -> StepMessage:
        """Validate a delivery into a :class:`StepMessage`; :class:`InvalidMessageError` if the
        task or payload is not one of ours."""
        if task_name not in self.steps:
            raise InvalidMessageError(f"unknown task {task_name[:80]!r}")
        model_type, _step = self.steps[task_name]
        data = payload.model_dump() if isinstance(payload, BaseModel) else payload
        try:
            validated = model_type.model_validate(data)
        except ValidationError as exc:
            raise InvalidMessageError(
                f"{task_name}: invalid payload ({exc.error_count()} errors)"
            ) from None
        return StepMessage(task_name=task_name, payload=validated, retries=retries)

    def run(
        self,
        ctx: PipelineContext,
        task_name: str,
        payload: dict[str, Any] | BaseModel,
        retries: int = 0,
    ) -> StepMessage:
        """Run one delivery of a step through the middleware; returns it with its outcome."""
        message = self.message(task_name, payload, retries)
        _model, step = self.steps[task_name]
        message.started_at = time.monotonic()
        try:
            for middleware in self.middleware:
                middleware.before_step(ctx, message)
            step(ctx, message.payload)
        except SkipStep as skip:
            message.outcome = StepOutcome.skipped
            log.info("%s skipped: %s", message.step_id, skip.reason)
        except Exception as exc:  # MemoryError included: the failure policy decides
            message.error = exc
        else:
            message.outcome = StepOutcome.ok
        message.duration_s = time.monotonic() - message.started_at
        # Every middleware's after hook runs, even where an outer one's before hook raised
        # (as dramatiq does): each checks its own notes.
        for middleware in reversed(self.middleware):
            middleware.after_step(ctx, message)
        if message.outcome is None:  # no failure policy in the stack: never swallow errors
            assert message.error is not None
            raise message.error
        return message

"""The failure policy, the same in both modes: what happens when a step raises.

- **Transient** (the store or broker unreachable, a timeout): run the step again after an
  exponential backoff (1, 2, 4 ... at most :data:`BACKOFF_MAX_S` seconds, with jitter), up to
  :data:`MAX_TRANSIENT_RETRIES` times; after that it counts as one failure (below).
- **Permanent** (invalid input, a decode error, an unreadable object, MemoryError, a
  non-finite score, a scorer this worker does not serve): the video fails at once with the
  reason, visible in ``status`` and in the result.
- **Corrupt cached or intermediate object** (a frame-cache chunk, a batch's scores, a stored
  record): deleted and rebuilt once per job (:mod:`workers.repair`); a second time it is
  permanent.
- **Anything else**: counted in the step's attempt history (:mod:`workers.attempts`) and run
  again after a backoff; a step that has failed more than ``SEGLOCATE_MAX_REDELIVERIES`` times
  (errors and worker deaths together) fails its video. Nothing is re-run for ever.
"""

from __future__ import annotations

import contextlib
import logging
import random

from common.errors import (
    CorruptObjectError,
    InvalidInputError,
    ScorerMismatchError,
    ScorerOutputError,
    StoreFullError,
    is_transient,
)
from common.pipeline import PipelineContext
from workers.attempts import AttemptCounts, AttemptLog
from workers.middleware.giving_up import give_up
from workers.repair import rebuild_corrupt_object
from workers.runner import Middleware, StepMessage, StepOutcome

log = logging.getLogger(__name__)

#: Retries of a step whose store or broker call failed, before it counts as one failure.
MAX_TRANSIENT_RETRIES = 8
#: Longest wait between two tries, seconds.
BACKOFF_MAX_S = 30.0


def is_permanent(error: BaseException) -> bool:
    """True for errors no retry can fix (see the module docstring)."""
    return isinstance(
        error,
        InvalidInputError | MemoryError | ScorerOutputError | ScorerMismatchError | StoreFullError,
    )


def backoff_s(retries: int) -> float:
    """Seconds to wait before try ``retries + 1``: 1, 2, 4 ... at most BACKOFF_MAX_S, jittered
    by up to -50 % so that workers do not retry in lock step."""
    delay = min(BACKOFF_MAX_S, 2.0**retries)
    return delay * random.uniform(0.5, 1.0)


def describe(error: BaseException) -> str:
    """One line: our errors say what and why already; others get their type name."""
    if isinstance(
        error, InvalidInputError | CorruptObjectError | ScorerOutputError | StoreFullError
    ):
        return str(error)
    if isinstance(error, MemoryError):
        return "out of memory (MemoryError)"
    text = " ".join(str(error).split())[:300]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class FailurePolicy(Middleware):
    """Settles every step's outcome (see the module docstring); innermost middleware."""

    def after_step(self, ctx: PipelineContext, message: StepMessage) -> None:
        error = message.error
        if message.outcome is not None or error is None:
            return
        if is_transient(error) and message.retries < MAX_TRANSIENT_RETRIES:
            self._retry(message, f"transient: {describe(error)}")
            return
        if isinstance(error, CorruptObjectError):
            if rebuild_corrupt_object(ctx, message, error):
                message.outcome = StepOutcome.rebuilt
                return
            self._fail(ctx, message, f"{describe(error)}; it was rebuilt once already")
            return
        if is_permanent(error):
            self._fail(ctx, message, describe(error), isinstance(error, InvalidInputError))
            return
        # Unexpected, or transient for too long: count it, retry while the budget lasts.
        before = message.notes.get("attempts_before", AttemptCounts())
        attempts = message.notes.get("attempt_log")
        if attempts is not None:
            with contextlib.suppress(Exception):  # the store may be the thing that is down
                attempts.record("failure", error=describe(error))
        failed = before.failed + 1
        if failed > ctx.settings.max_redeliveries:
            reason = f"{message.step} failed {failed} times; last error: {describe(error)}"
            self._fail(ctx, message, reason)
            return
        log.warning(
            "%s failed (%d of at most %d): %s",
            message.step_id,
            failed,
            ctx.settings.max_redeliveries + 1,
            describe(error),
            exc_info=error,
        )
        self._retry(message, None)

    def _retry(self, message: StepMessage, why: str | None) -> None:
        message.outcome = StepOutcome.retried
        message.retry_in_s = backoff_s(message.retries)
        if why:
            log.warning("%s: %s; retry in %.1fs", message.step_id, why, message.retry_in_s)

    def _fail(
        self, ctx: PipelineContext, message: StepMessage, reason: str, names_subject: bool = False
    ) -> None:
        message.outcome = StepOutcome.failed
        try:
            give_up(ctx, message, reason, names_subject)
        except Exception as exc:  # the store is gone too: try the whole step again later
            log.warning("%s: could not record the failure (%s)", message.step_id, describe(exc))
            message.outcome = StepOutcome.retried
            message.retry_in_s = backoff_s(message.retries)


__all__ = ["AttemptLog", "FailurePolicy", "backoff_s", "describe", "is_permanent", "is_transient"]

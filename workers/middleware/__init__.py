"""Middleware of the step runner, one concern per module (see :mod:`workers.runner`).

:func:`default_middleware` is the stack both modes use, outermost first.
"""

from __future__ import annotations

from workers.middleware.cancellation import CancellationCheck
from workers.middleware.counters import StepCounters
from workers.middleware.failure_policy import FailurePolicy
from workers.middleware.log_context import LogContext
from workers.middleware.poison import PoisonGuard
from workers.runner import Middleware

__all__ = [
    "CancellationCheck",
    "FailurePolicy",
    "LogContext",
    "PoisonGuard",
    "StepCounters",
    "default_middleware",
]


def default_middleware(extra: list[Middleware] | None = None) -> list[Middleware]:
    """Log context (outermost), counters and ``extra`` (e.g. metrics), the cancellation check,
    the poison-message guard, then the failure policy (innermost: it settles the outcome)."""
    return [
        LogContext(),
        StepCounters(),
        *(extra or []),
        CancellationCheck(),
        PoisonGuard(),
        FailurePolicy(),
    ]

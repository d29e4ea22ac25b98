"""Graceful shutdown: on SIGTERM a worker takes no new task, lets the step in flight finish
within ``SEGLOCATE_SHUTDOWN_GRACE_S`` seconds, hands it back if it has not, and exits 0.

1. SIGTERM reaches the Celery main process (``seglocate worker`` forwards it to each worker it
   started). Celery's warm shutdown stops fetching messages and lets running tasks go on; the
   process then exits with 0.
2. :func:`on_shutdown_requested` (Celery's ``worker_shutting_down`` signal, main process)
   starts a :class:`HandBackTimer`. When the grace has passed and steps still run, it sends
   :data:`HAND_BACK_SIGNAL` to the processes running them (a prefork child, or the solo pool's
   own process), again every :data:`RESIGNAL_INTERVAL_S` until none is left.
3. In a step-running process the signal raises :class:`HandBack` inside the step, at the next
   Python instruction, and only while a step runs (:class:`ShutdownGuard`, the innermost
   middleware, opens that window). The guard settles the outcome as ``handed_back``: no failure
   is counted and the attempt is recorded as ended (not as a worker death); the task then
   rejects its message with requeue, so the broker gives it to another worker at once.

Nothing is lost or counted twice: steps are idempotent and store their output under
deterministic keys in one write, so an interrupted step has stored nothing, and the worker that
runs it again scores (and counts) its windows once.

Why not Celery's soft shutdown (``REMAP_SIGTERM=SIGQUIT`` with ``worker_soft_shutdown_timeout``):
it exits with 1, always sleeps the whole timeout, and on the solo pool our GPU workers use it
sleeps in the signal handler on the very thread that runs the task, which therefore cannot
finish meanwhile, and the solo pool cannot cancel a task at all.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from common.pipeline import PipelineContext
from workers.runner import Middleware, StepMessage, StepOutcome

log = logging.getLogger(__name__)

#: Sent by the main process to a process whose step must be handed back (free in Celery and
#: billiard: SIGUSR1 is the soft time limit, SIGTERM and SIGQUIT stop processes).
HAND_BACK_SIGNAL = signal.SIGUSR2
#: Seconds between two hand-back signals to a process still running a step.
RESIGNAL_INTERVAL_S = 0.5


class HandBack(Exception):
    """Raised inside a step: the worker is shutting down and its grace has passed."""


class _Window:
    """Per-process state shared with the signal handler."""

    #: A step runs now and may be interrupted.
    interruptible = False
    #: A hand-back signal arrived: every step of this process from now on is handed back.
    requested = False


_window = _Window()


def _on_hand_back_signal(_signum: int, _frame: FrameType | None) -> None:
    _window.requested = True
    if _window.interruptible:
        _window.interruptible = False
        raise HandBack("the worker is shutting down and its grace period has passed")


def install_hand_back_handler() -> None:
    """In a process that runs steps (from its main thread): interrupt steps on request."""
    signal.signal(HAND_BACK_SIGNAL, _on_hand_back_signal)


class ShutdownGuard(Middleware):
    """The innermost middleware: opens the window in which a step may be interrupted, and
    settles an interrupted step's outcome as ``handed_back``."""

    def before_step(self, ctx: PipelineContext, message: StepMessage) -> None:
        if _window.requested:
            raise HandBack("the worker is shutting down")
        _window.interruptible = True

    def after_step(self, ctx: PipelineContext, message: StepMessage) -> None:
        _window.interruptible = False
        if message.outcome is not None or message.error is None:
            return
        # An error after a hand-back request is the interruption's doing, whatever its type
        # (a step may wrap what it catches).
        if isinstance(message.error, HandBack) or _window.requested:
            message.outcome = StepOutcome.handed_back
            log.warning("%s handed back: the worker is shutting down", message.step_id)


def active_step_pids() -> list[int]:
    """Processes running a task of this Celery worker now (the main process's view)."""
    from celery.worker import state

    return sorted({r.worker_pid for r in list(state.active_requests) if r.worker_pid})


class HandBackTimer:
    """After ``grace_s``, signals every process still running a step (see the module)."""

    def __init__(self, grace_s: float, running: Callable[[], list[int]] = active_step_pids) -> None:
        self.grace_s = grace_s
        self.running = running
        self.deadline = time.monotonic() + grace_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="seglocate-hand-back", daemon=True)

    def start(self) -> HandBackTimer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        log.warning("shutting down: no new tasks; running ones have %gs to finish", self.grace_s)
        if self._stop.wait(max(0.0, self.deadline - time.monotonic())):
            return
        while not self._stop.is_set():
            try:
                pids = self.running()
            except RuntimeError:  # the set of requests changed while read: read again
                pids = []
            for pid in pids:
                log.warning("shutdown grace of %gs passed: handing back the step of pid %d",
                            self.grace_s, pid)  # fmt: skip
                try:
                    os.kill(pid, HAND_BACK_SIGNAL)
                except ProcessLookupError:
                    continue
            self._stop.wait(RESIGNAL_INTERVAL_S)


_timer: HandBackTimer | None = None


def on_shutdown_requested(grace_s: float) -> None:
    """The main process was told to stop: start the grace timer (once). Runs in a signal
    handler: it only starts a thread."""
    global _timer
    if _timer is None:
        _timer = HandBackTimer(grace_s).start()

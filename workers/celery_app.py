"""The Celery app: every pipeline step as a task, JSON only, late acks, resident scorer.

Start workers with ``seglocate worker`` (see :mod:`workers.launch`). The queue a worker serves
comes from ``SEGLOCATE_WORKER_QUEUES`` (set by the launcher); a worker on the ``gpu`` queue
builds and loads its scorer (``SEGLOCATE_SCORER``) once per process at start.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

from celery import Celery, Task
from celery.exceptions import Reject
from celery.signals import (
    setup_logging,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)

from common.celery_config import celery_config, send_task
from common.heartbeat import Heartbeat
from common.logcontext import configure_logging, work_context
from common.pipeline import QUEUE_CPU, QUEUE_GPU, TASK_QUEUES, PipelineContext
from common.settings import Settings
from common.storage import open_store
from workers import resident, shutdown
from workers.metrics import process as metrics_process
from workers.middleware import default_middleware
from workers.middleware.metrics import StepMetrics
from workers.reconcile import Reconciler, redis_broker_is_idle
from workers.runner import InvalidMessageError, StepOutcome, StepRunner

log = logging.getLogger("seglocate.worker")

_settings = Settings()
app = Celery("seglocate")
app.conf.update(celery_config(_settings))


class _WorkerState:
    ctx: PipelineContext | None = None
    heartbeat: Heartbeat | None = None
    reconciler: Reconciler | None = None
    exporter: metrics_process.Exporter | None = None
    tasks_done = 0


@setup_logging.connect
def _configure_logging(loglevel: int | str | None = None, **_: Any) -> None:
    """Our handler (job id and video on every line) instead of Celery's."""
    level = logging.getLevelName(loglevel) if isinstance(loglevel, str) else loglevel
    configure_logging(level if isinstance(level, int) else logging.INFO, _settings.log_format)


def worker_queues() -> list[str]:
    return [q for q in os.environ.get("SEGLOCATE_WORKER_QUEUES", "cpu,gpu").split(",") if q]


def context() -> PipelineContext:
    """This process's pipeline context (store, enqueue, resident scorer), built once."""
    if _WorkerState.ctx is None:
        settings = Settings()
        store = open_store(settings)
        serves_gpu = QUEUE_GPU in worker_queues()
        _WorkerState.ctx = PipelineContext(
            settings=settings,
            store=store,
            enqueue=lambda name, payload: send_task(app, name, payload),
            scorer_for=lambda name: resident.resident_scorer(name, settings),
            served_scorers=frozenset({settings.scorer}) if serves_gpu else None,
        )
    return _WorkerState.ctx


@worker_process_init.connect
def _load_resident_scorer(**_: Any) -> None:
    """Once per worker process: build the context and load the gpu queue's scorer."""
    ctx = context()
    queues = worker_queues()
    scorer_name = ctx.settings.scorer if QUEUE_GPU in queues else None
    metrics_process.init_step_process(ctx.settings, queues, scorer_name)
    shutdown.install_hand_back_handler()
    if scorer_name is not None:
        resident.load_resident_scorer(scorer_name, ctx.settings)
    _WorkerState.heartbeat = Heartbeat(ctx.store, ctx.settings.work_bucket, queues, scorer_name)
    _WorkerState.heartbeat.update(scorer_loads=resident.load_count)
    _WorkerState.heartbeat.start()


@worker_ready.connect
def _start_reconciler(**_: Any) -> None:
    """In the main worker process of a cpu-queue worker: resume stalled jobs periodically."""
    ctx = context()
    if QUEUE_CPU in worker_queues() and ctx.settings.reconcile_interval_s > 0:
        _WorkerState.reconciler = Reconciler(ctx, lambda: redis_broker_is_idle(ctx.settings))
        _WorkerState.reconciler.start()


@worker_shutdown.connect
def _stop_reconciler(**_: Any) -> None:
    if _WorkerState.reconciler is not None:
        _WorkerState.reconciler.stop()
    _stop_heartbeat()  # the solo pool's process sends no worker_process_shutdown
    if _WorkerState.exporter is not None:
        _WorkerState.exporter.stop()


@worker_process_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    if _WorkerState.heartbeat is not None:
        _WorkerState.heartbeat.stop()
    metrics_process.exit_step_process()


@worker_init.connect
def _serve_metrics(**_: Any) -> None:
    """Main process, before the pool forks: ``/metrics`` (SEGLOCATE_METRICS_PORT)."""
    _WorkerState.exporter = metrics_process.init_main_process(_settings, worker_queues())


@worker_shutting_down.connect
def _hand_back_after_grace(**_: Any) -> None:
    """SIGTERM: running steps get SEGLOCATE_SHUTDOWN_GRACE_S, then go back to the broker."""
    shutdown.on_shutdown_requested(_settings.shutdown_grace_s)


#: Log contexts of the tasks running in this process, by task id: Celery's own lines about a
#: task ("succeeded in", "retry") are logged outside the runner.
_task_log_contexts: dict[str, contextlib.ExitStack] = {}


@task_prerun.connect
def _enter_task_log_context(
    task_id: str | None = None, kwargs: dict[str, Any] | None = None, **_: Any
) -> None:
    payload = (kwargs or {}).get("payload")
    if task_id and isinstance(payload, dict):
        stack = contextlib.ExitStack()
        stack.enter_context(work_context(payload.get("job_id"), payload.get("video_index")))
        _task_log_contexts[task_id] = stack


@task_postrun.connect
def _leave_task_log_context(task_id: str | None = None, **_: Any) -> None:
    stack = _task_log_contexts.pop(task_id or "", None)
    if stack is not None:
        stack.close()


#: The one step runner of this process: the middleware of embedded mode, metrics, and the
#: shutdown guard innermost (a step interrupted at shutdown is handed back, not failed).
RUNNER = StepRunner([*default_middleware([StepMetrics()]), shutdown.ShutdownGuard()])


def _register(task_name: str) -> Task:
    @app.task(
        name=task_name,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        max_retries=None,  # the failure policy bounds retries
        queue=TASK_QUEUES[task_name],
    )
    def step(self: Task, payload: dict[str, Any]) -> None:
        ctx = context()
        try:
            message = RUNNER.run(ctx, task_name, payload, retries=self.request.retries)
        except InvalidMessageError as exc:  # crafted or corrupt: refuse it, never retry it
            log.error("refused a message: %s", exc)
            return
        except shutdown.HandBack:  # interrupted between the step and its middleware
            raise Reject("handed back at shutdown", requeue=True) from None
        _WorkerState.tasks_done += 1
        if _WorkerState.heartbeat is not None:
            _WorkerState.heartbeat.update(
                tasks_done=_WorkerState.tasks_done,
                scorer_loads=resident.load_count,
                windows_scored=ctx.counters.get("windows_scored", 0),
            )
        if message.outcome == StepOutcome.handed_back:  # the broker gives it to another worker
            raise Reject("handed back at shutdown", requeue=True)
        if message.outcome == StepOutcome.retried:
            raise self.retry(countdown=message.retry_in_s, exc=message.error)

    return step


TASKS = {name: _register(name) for name in TASK_QUEUES}

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
from celery.signals import (
    setup_logging,
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)

from common.celery_config import celery_config, send_task
from common.errors import StoreUnavailableError
from common.heartbeat import Heartbeat
from common.logcontext import configure_logging, work_context
from common.pipeline import QUEUE_CPU, QUEUE_GPU, TASK_QUEUES, PipelineContext
from common.settings import Settings
from common.storage import open_store
from workers import resident
from workers.guard import RedeliveryGuard
from workers.reconcile import Reconciler, redis_broker_is_idle
from workers.steps import run_step

log = logging.getLogger("seglocate.worker")

#: Retries of a task whose store or broker call failed, with exponential backoff.
MAX_TRANSIENT_RETRIES = 8

_settings = Settings()
app = Celery("seglocate")
app.conf.update(celery_config(_settings))


class _WorkerState:
    ctx: PipelineContext | None = None
    heartbeat: Heartbeat | None = None
    reconciler: Reconciler | None = None
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
    if scorer_name is not None:
        scorer = ctx.scorer_for(scorer_name)
        load = getattr(scorer, "load", None)
        if callable(load):
            load()
    _WorkerState.heartbeat = Heartbeat(ctx.store, ctx.settings.work_bucket, queues, scorer_name)
    _WorkerState.heartbeat.update(scorer_loads=resident.load_count)
    _WorkerState.heartbeat.start()


@worker_ready.connect
def _start_reconciler(**_: Any) -> None:
    """In the main worker process of a cpu-queue worker: resume stalled jobs periodically."""
    ctx = context()
    if QUEUE_CPU in worker_queues() and ctx.settings.reconcile_interval_s > 0:
        _WorkerState.reconciler = Reconciler(ctx, lambda: redis_broker_is_idle(app))
        _WorkerState.reconciler.start()


@worker_shutdown.connect
def _stop_reconciler(**_: Any) -> None:
    if _WorkerState.reconciler is not None:
        _WorkerState.reconciler.stop()


@worker_process_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    if _WorkerState.heartbeat is not None:
        _WorkerState.heartbeat.stop()


#: Log contexts of the tasks running in this process, by task id.
_task_log_contexts: dict[str, contextlib.ExitStack] = {}


@task_prerun.connect
def _enter_task_log_context(
    task_id: str | None = None, kwargs: dict[str, Any] | None = None, **_: Any
) -> None:
    """Celery's own lines about a task (succeeded, retry, raised) carry its job id too."""
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


def _register(task_name: str) -> Task:
    @app.task(
        name=task_name,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        autoretry_for=(StoreUnavailableError, ConnectionError, TimeoutError),
        retry_backoff=1,
        retry_backoff_max=30,
        retry_jitter=True,
        max_retries=MAX_TRANSIENT_RETRIES,
        queue=TASK_QUEUES[task_name],
    )
    def step(self: Task, payload: dict[str, Any]) -> None:
        ctx = context()
        with work_context(payload.get("job_id"), payload.get("video_index")):
            guard = RedeliveryGuard(ctx, task_name, payload)
            if not guard.admit():
                return
            try:
                run_step(ctx, task_name, payload)
            finally:
                guard.done()  # skipped only when the worker dies mid-task
        _WorkerState.tasks_done += 1
        if _WorkerState.heartbeat is not None:
            _WorkerState.heartbeat.update(
                tasks_done=_WorkerState.tasks_done, scorer_loads=resident.load_count
            )

    return step


TASKS = {name: _register(name) for name in TASK_QUEUES}

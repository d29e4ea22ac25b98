"""Sending the first step of a job: in-process (embedded) or to the Celery broker (distributed)."""

from __future__ import annotations

import threading
from typing import Protocol

from pydantic import BaseModel

from common.celery_config import celery_config, send_task
from common.settings import Settings
from common.storage import ObjectStore


class Dispatcher(Protocol):
    def send(self, task_name: str, payload: BaseModel) -> None: ...
    def start(self) -> None: ...


class CeleryDispatcher:
    """Publishes task messages (JSON, object keys only) to the broker's queues."""

    def __init__(self, settings: Settings) -> None:
        from celery import Celery

        self.app = Celery("seglocate-client", set_as_current=False)
        self.app.conf.update(celery_config(settings))

    def send(self, task_name: str, payload: BaseModel) -> None:
        send_task(self.app, task_name, payload)

    def start(self) -> None:
        return None


class EmbeddedDispatcher:
    """Runs the job's steps in a background thread of this process."""

    def __init__(self, settings: Settings, store: ObjectStore) -> None:
        from workers.embedded import EmbeddedRunner

        self.runner = EmbeddedRunner(settings, store)
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def send(self, task_name: str, payload: BaseModel) -> None:
        self.runner.submit(task_name, payload)

    def start(self) -> None:
        def run() -> None:
            try:
                self.runner.run()
            except BaseException as exc:  # surfaced by Job.wait
                self.error = exc

        self.thread = threading.Thread(target=run, name="seglocate-embedded", daemon=True)
        self.thread.start()

    def run_here(self) -> None:
        """Run the steps in the calling thread (the CLI's embedded ``locate``)."""
        self.runner.run()

"""Sending the first step of a job: in-process (embedded) or to the Celery broker (distributed)."""

from __future__ import annotations

import threading
from typing import Protocol

from pydantic import BaseModel

from common.broker import broker_address, check_broker, describe_broker_error
from common.celery_config import celery_config, send_task
from common.errors import BrokerUnavailableError
from common.settings import Settings
from common.storage import ObjectStore

#: Seconds the client waits for the broker to accept a connection or answer, each time.
BROKER_TIMEOUT_S = 5.0


class Dispatcher(Protocol):
    def check(self) -> None: ...
    def send(self, task_name: str, payload: BaseModel) -> None: ...
    def start(self) -> None: ...


class CeleryDispatcher:
    """Publishes task messages (JSON, object keys only) to the broker's queues, with bounded
    connect and publish timeouts: a broker that is down or frozen is one clear error."""

    def __init__(self, settings: Settings) -> None:
        from celery import Celery

        self.settings = settings
        self.app = Celery("seglocate-client", set_as_current=False)
        self.app.conf.update(celery_config(settings, client_timeout_s=BROKER_TIMEOUT_S))

    def check(self) -> None:
        """Ping the broker; :class:`BrokerUnavailableError` in one line if it does not answer
        within :data:`BROKER_TIMEOUT_S` (refused, unreachable, frozen, wrong password)."""
        check_broker(self.settings, BROKER_TIMEOUT_S)

    def send(self, task_name: str, payload: BaseModel) -> None:
        try:
            send_task(self.app, task_name, payload, bounded=True)
        except Exception as exc:  # refused, timed out, or the broker would not take it
            raise BrokerUnavailableError(
                f"broker {broker_address(self.settings)}: {describe_broker_error(exc)}"
            ) from None

    def start(self) -> None:
        return None


class EmbeddedDispatcher:
    """Runs the job's steps in a background thread of this process."""

    def check(self) -> None:
        """No broker in embedded mode: nothing to check."""

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

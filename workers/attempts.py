"""A step's attempt history in the work bucket: one immutable object per event.

Each execution of a step writes a ``start`` event before it runs and an ``end`` event after it
returns or raises; a ``failure`` event records an error the failure policy counted. Because
every event is its own object (never a read-modify-write counter), concurrent and redelivered
executions cannot lose each other's counts, and counts never go backwards. A ``start`` without
its ``end`` is an execution whose worker died.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

from common import keys
from common.schemas import AttemptEvent
from common.storage import ObjectStore, write_model


@dataclass(frozen=True)
class AttemptCounts:
    """How often a step started, ended, and failed (raised an error the policy counted)."""

    starts: int = 0
    ends: int = 0
    failures: int = 0

    @property
    def deaths(self) -> int:
        """Executions that started and never ended: their worker died (OOM kill, SIGKILL)."""
        return max(0, self.starts - self.ends)

    @property
    def failed(self) -> int:
        """Every way this step has failed so far: deaths plus counted errors."""
        return self.deaths + self.failures


class AttemptLog:
    """The attempt events of one step of one job."""

    def __init__(self, store: ObjectStore, bucket: str, job_id: str, step_id: str) -> None:
        self.store = store
        self.bucket = bucket
        self.job_id = job_id
        self.step_id = step_id

    def counts(self) -> AttemptCounts:
        """One listing of the step's events."""
        prefix = keys.attempts_prefix(self.job_id, self.step_id)
        kinds = [
            key[len(prefix) :].split("-", 1)[0] for key in self.store.list_keys(self.bucket, prefix)
        ]
        return AttemptCounts(
            starts=kinds.count("start"), ends=kinds.count("end"), failures=kinds.count("failure")
        )

    def record(self, kind: str, token: str | None = None, error: str | None = None) -> str:
        """Write one event; returns its token (pass the start's token to its end)."""
        token = token or uuid.uuid4().hex
        key = keys.attempt_event(self.job_id, self.step_id, kind, token)
        write_model(
            self.store, self.bucket, key, AttemptEvent(kind=kind, pid=os.getpid(), error=error)
        )
        return token

"""The pipeline's seams: task names, the queue each runs on, and the context every step gets.

Steps are plain functions ``step(ctx, payload)``. Embedded mode runs them in-process from a
local queue; distributed mode wraps the same functions as Celery tasks. A step never returns
data to its caller: it writes to the object store under deterministic keys and enqueues the
next step, so a redelivered or duplicated message is harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel

from common.scorers.base import Scorer
from common.settings import Settings
from common.storage import ObjectStore

#: Probe, sample and cache a video's frames; plan its windows (CPU queue).
TASK_INGEST = "seglocate.ingest_video"
#: Run the scorer's query-independent step for a video, then fan out scoring (GPU queue).
TASK_PREPARE = "seglocate.prepare_video"
#: Score one batch of windows (GPU queue).
TASK_SCORE = "seglocate.score_batch"
#: Score short probes at the edges of a video's coarse clips to refine boundaries (GPU queue).
TASK_REFINE = "seglocate.refine_video"
#: Merge a video's window scores into clips and thumbnails (CPU queue).
TASK_AGGREGATE = "seglocate.aggregate_video"
#: Write the job's result once every video is finished (CPU queue).
TASK_FINALIZE = "seglocate.finalize_job"
#: Write a video's shard for the library index (the scorer's GPU queue: resident embedders).
TASK_INDEX = "seglocate.index_video"
#: Once every video of a search is indexed, recall the windows to rerank (CPU queue).
TASK_RECALL = "seglocate.recall_job"
#: Embed a search's query with the resident window embedder, then recall (GPU queue).
TASK_EMBED_QUERY = "seglocate.embed_query"

QUEUE_CPU = "cpu"
#: Scoring runs on one queue per scorer, ``gpu.<scorer>``: a worker serves the scorer it holds.
QUEUE_GPU = "gpu"

#: Which queue each task is routed to.
TASK_QUEUES = {
    TASK_INGEST: QUEUE_CPU,
    TASK_PREPARE: QUEUE_GPU,
    TASK_SCORE: QUEUE_GPU,
    TASK_REFINE: QUEUE_GPU,
    TASK_AGGREGATE: QUEUE_CPU,
    TASK_FINALIZE: QUEUE_CPU,
    TASK_INDEX: QUEUE_GPU,
    TASK_RECALL: QUEUE_CPU,
    TASK_EMBED_QUERY: QUEUE_GPU,
}


def gpu_queue(scorer: str) -> str:
    """The broker queue of the scoring steps for ``scorer`` (e.g. ``gpu.qwen3-vl``); an alias
    (``ocr``) is the queue of the scorer it names (``gpu.text``)."""
    from common.scorers.specs import SCORER_ALIASES

    return f"{QUEUE_GPU}.{SCORER_ALIASES.get(scorer, scorer)}"


def broker_queues(queues: list[str], scorer: str) -> list[str]:
    """Broker queue names for a worker serving ``queues`` (``cpu``/``gpu``) with ``scorer``."""
    return [gpu_queue(scorer) if q == QUEUE_GPU else q for q in queues]


def queue_for(task_name: str, payload: object) -> str:
    """Where to send ``task_name``: its cpu queue, or the gpu queue of the payload's scorer."""
    queue = TASK_QUEUES[task_name]
    if queue != QUEUE_GPU:
        return queue
    scorer = getattr(payload, "scorer", "")
    if not scorer:
        raise ValueError(f"{task_name} needs the job's scorer in its payload to be routed")
    return gpu_queue(scorer)


class Enqueue(Protocol):
    def __call__(self, task_name: str, payload: BaseModel) -> None: ...


class PipelineObserver(Protocol):
    """Sees every count and measurement a step reports (the metrics exporter is one)."""

    def count(self, name: str, n: int) -> None: ...

    def observe(self, name: str, value: float) -> None: ...


@dataclass
class PipelineContext:
    """What a step needs: settings, the store, a way to enqueue the next step, the scorer."""

    settings: Settings
    store: ObjectStore
    enqueue: Enqueue
    #: Returns the resident scorer for a name (loaded once per process).
    scorer_for: Callable[[str], Scorer]
    #: Scorer names this process may run; ``None`` means any (embedded mode).
    served_scorers: frozenset[str] | None = None
    counters: dict[str, int] = field(default_factory=dict)
    #: Told of every count and measurement (e.g. the Prometheus metrics); None: nobody.
    observer: PipelineObserver | None = None

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to a per-process counter (decodes, OCR runs): for tests and benchmarks."""
        self.counters[name] = self.counters.get(name, 0) + n
        if self.observer is not None:
            self.observer.count(name, n)

    def observe(self, name: str, value: float) -> None:
        """Report one measurement (e.g. windows in one scoring call) to the observer, if any."""
        if self.observer is not None:
            self.observer.observe(name, value)

"""The resident scorer: built once per process and kept for every later task."""

from __future__ import annotations

import logging
import os
import threading
import time

from common.scorers import Scorer, build_scorer
from common.settings import Settings

log = logging.getLogger(__name__)

_lock = threading.Lock()
_scorers: dict[tuple[str, str], Scorer] = {}
#: How many scorers this process has built (tests assert one per process).
load_count = 0
#: Seconds the last build-and-load of each scorer took in this process, by scorer name.
load_seconds: dict[str, float] = {}


def resident_scorer(name: str, settings: Settings) -> Scorer:
    """The process's scorer ``name``, built on first use and reused afterwards."""
    global load_count
    with _lock:
        key = (name, settings.model if name == "qwen3-vl" else "")
        scorer = _scorers.get(key)
        if scorer is None:
            scorer = build_scorer(name, settings)
            _scorers[key] = scorer
            load_count += 1
            log.info("pid %d loaded scorer %s (load #%d)", os.getpid(), name, load_count)
        return scorer


def load_resident_scorer(name: str, settings: Settings) -> Scorer:
    """Build the process's scorer ``name`` and load its model now (not on the first task),
    timing both: :data:`load_seconds` and the ``seglocate_scorer_load_duration_seconds``
    metric."""
    from workers import metrics

    started = time.perf_counter()
    scorer = resident_scorer(name, settings)
    load = getattr(scorer, "load", None)
    if callable(load):
        load()
    seconds = time.perf_counter() - started
    load_seconds[name] = seconds
    metrics.record_scorer_load(name, seconds)
    log.info("scorer %s ready in %.2fs", name, seconds)
    return scorer

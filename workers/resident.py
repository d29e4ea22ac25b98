"""The resident scorer: built once per process and kept for every later task."""

from __future__ import annotations

import logging
import os
import threading

from common.scorers import Scorer, build_scorer
from common.settings import Settings

log = logging.getLogger(__name__)

_lock = threading.Lock()
_scorers: dict[tuple[str, str], Scorer] = {}
#: How many scorers this process has built (tests assert one per process).
load_count = 0


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

"""The resident scorer: built once per process and kept for every later task."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING

from common.scorers import Scorer, build_scorer
from common.settings import Settings

if TYPE_CHECKING:
    from common.embedders.base import WindowEmbedder
    from common.embedders.text import SentenceTransformerEmbedder

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


_embedders: dict[tuple[str | None, str, int | None, str | None], list[WindowEmbedder]] = {}
_text_embedders: dict[str | None, SentenceTransformerEmbedder | None] = {}


def resident_text_embedder(settings: Settings) -> SentenceTransformerEmbedder | None:
    """The process's text embedder (``SEGLOCATE_TEXT_EMBEDDER``), loaded on first use: only
    processes that index or recall ever load it. None when off."""
    with _lock:
        if settings.text_embedder not in _text_embedders:
            from common.embedders.text import load_text_embedder

            _text_embedders[settings.text_embedder] = load_text_embedder(settings.text_embedder)
            log.info("pid %d loaded text embedder %s", os.getpid(), settings.text_embedder)
        return _text_embedders[settings.text_embedder]


def resident_embedders(settings: Settings) -> list[WindowEmbedder]:
    """The embedders whose vectors this process writes into shards, loaded once: the window
    embedder (``SEGLOCATE_EMBEDDER``, on gpu workers) first, then the text embedder."""
    key = (settings.embedder, settings.embedder_model, settings.embed_dims, settings.text_embedder)
    found = _embedders.get(key)
    if found is not None:
        return found
    embedders: list[WindowEmbedder] = []
    if settings.embedder:
        from common.embedders.build import build_window_embedder

        window_embedder = build_window_embedder(settings)
        if window_embedder is not None:
            embedders.append(window_embedder)
    text = resident_text_embedder(settings)
    if text is not None:
        embedders.append(text)
    with _lock:
        return _embedders.setdefault(key, embedders)

"""Hybrid recall: BM25 over window text and cosine over each embedder's vectors, fused by
reciprocal rank, then expanded to neighbouring windows within the job's budget.

The result is what the rerank step needs: for each window to score, its video (content hash),
its window index, its fused score and the signals that recalled it (``text``,
``vector:<embedder tag>``, or ``neighbour``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from common.index.expansion import DEFAULT_RADIUS, Candidate, expand_candidates
from common.index.fusion import RRF_K, reciprocal_rank_fusion
from common.index.library import LibraryIndex
from common.index.shard import EmbedderIdentity

#: Signal name of BM25 over window text.
TEXT_SIGNAL = "text"
#: Each signal returns at least this many windows before fusion (RRF needs some depth).
MIN_SIGNAL_DEPTH = 100
#: RRF weight of BM25 next to each vector signal (weight 1). Measured on 24 exact and 24
#: paraphrased queries over 50 generated lectures with the bundled MiniLM text embedder
#: (benchmarks/bench_text_embedder.py): top-1 on paraphrases 11/24 at weight 1, 13/24 at 0.5,
#: exact queries 24/24 either way. A paraphrase's BM25 list is mostly chance word overlaps.
TEXT_WEIGHT = 0.5


def vector_signal(embedder: EmbedderIdentity) -> str:
    """Signal name of cosine similarity over one embedder's vectors."""
    return f"vector:{embedder.tag}"


class RecalledWindow(BaseModel):
    """A window chosen by recall, to be reranked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Content hash of the window's video.
    video: str
    #: Index of the window in its video's window list.
    window: int = Field(ge=0)
    #: Reciprocal-rank-fusion score (a neighbour carries its recalled window's score).
    score: float
    #: Signals that recalled it, or ``["neighbour"]``.
    signals: tuple[str, ...]


class RecallResult(BaseModel):
    """What recall hands the rerank step (``jobs/{job_id}/recall.json``)."""

    model_config = ConfigDict(extra="forbid")

    #: Windows to rerank across the whole job (recalled and neighbours).
    budget: int = Field(ge=1)
    #: Signals that ran: ``text`` and ``vector:<embedder tag>``.
    signals: list[str]
    #: The windows, recalled best first, each followed by its neighbours.
    windows: list[RecalledWindow]


def recall(
    index: LibraryIndex,
    budget: int,
    query_text: str | None = None,
    query_vectors: Mapping[EmbedderIdentity, np.ndarray] | None = None,
    videos: Collection[str] | None = None,
    radius: int = DEFAULT_RADIUS,
    rrf_k: int = RRF_K,
    weights: Mapping[str, float] | None = None,
) -> list[RecalledWindow]:
    """At most ``budget`` windows of ``videos`` (None: the whole index) for the query, best
    recalled first, each followed by its neighbours within ``radius`` windows.

    ``query_vectors`` gives the query's L2-normalised vector per embedder (embedders the index
    does not hold are an error). With neither text nor vectors the result is empty. ``weights``
    are RRF weights by signal name (default: :data:`TEXT_WEIGHT` for BM25, 1 for vectors).
    """
    if budget < 1:
        raise ValueError(f"recall budget must be at least 1 window, got {budget}")
    depth = max(budget, MIN_SIGNAL_DEPTH)
    rankings: dict[str, list[int]] = {}
    if query_text and query_text.strip():
        rankings[TEXT_SIGNAL] = [o for o, _ in index.search_text(query_text, depth, videos)]
    for embedder, vector in (query_vectors or {}).items():
        hits = index.search_vectors(embedder, vector, depth, videos)
        # A window without text has a zero vector (similarity 0): nothing to recall it by.
        rankings[vector_signal(embedder)] = [o for o, similarity in hits if similarity > 0.0]
    if weights is None:
        weights = {TEXT_SIGNAL: TEXT_WEIGHT}
    fused = reciprocal_rank_fusion(rankings, k=rrf_k, weights=weights)
    recalled = []
    for hit in fused:
        video, window = index.window_of(hit.key)
        recalled.append(Candidate(video, window, hit.score, hit.signals))
    counts = {c.video: index.window_count(c.video) for c in recalled}
    expanded = expand_candidates(recalled, counts, budget, radius)
    return [
        RecalledWindow(video=c.video, window=c.window, score=c.score, signals=c.signals)
        for c in expanded
    ]

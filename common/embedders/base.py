"""The ``WindowEmbedder`` seam: what every embedder declares and does.

An embedder maps windows (frames and/or text) and queries into one vector space. Vectors are
float32, L2-normalised (cosine similarity is a dot product), ``info.dims`` long. Windows are
embedded once per (content hash, sampling, embedder, revision) and stored; queries per job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from common.scorers.base import LoadedQuery, WindowInput


@dataclass(frozen=True)
class EmbedderInfo:
    """Which embedder produced a vector: part of every stored vector's identity."""

    #: ``qwen3-vl-embedding`` or ``text`` (a sentence-transformers model).
    name: str
    #: Hub id or local directory.
    model_id: str
    #: Checkpoint revision, where known.
    revision: str | None
    #: Length of each vector (after any Matryoshka truncation).
    dims: int


@runtime_checkable
class WindowEmbedder(Protocol):
    """Embeds windows and queries into one space; loaded once per process and kept."""

    info: EmbedderInfo
    #: True if :meth:`embed_windows` needs the windows' frames (else ``WindowInput.text`` is
    #: enough).
    needs_window_pixels: bool

    def embed_windows(self, windows: Sequence[WindowInput]) -> np.ndarray:
        """One L2-normalised float32 row per window, shape ``(len(windows), info.dims)``."""
        ...

    def embed_query(self, query: LoadedQuery) -> np.ndarray:
        """The query's L2-normalised float32 vector, shape ``(info.dims,)``."""
        ...

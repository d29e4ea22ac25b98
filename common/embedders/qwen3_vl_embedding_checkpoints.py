"""The official Qwen3-VL-Embedding checkpoints and their vector sizes; torch-free.

Both are Qwen3-VL backbones whose last token's final hidden state is the embedding: its
length is the language model's width, 2048 for the 2B model and 4096 for the 8B. They were
trained with Matryoshka representation learning, so the first ``d`` dimensions of a vector,
re-normalised, are themselves an embedding (``SEGLOCATE_EMBED_DIMS``).

No commit is pinned yet (the reranker's are, in :mod:`common.scorers.qwen3_vl_checkpoints`):
a hub id loads at the revision given, else the hub's default branch.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.errors import InvalidInputError

#: Name of this embedder in settings and in every stored vector's identity.
EMBEDDER_NAME = "qwen3-vl-embedding"
#: The checkpoint loaded when none is named.
DEFAULT_MODEL = "Qwen/Qwen3-VL-Embedding-2B"


@dataclass(frozen=True)
class EmbeddingCheckpoint:
    """An official checkpoint and the length of its vectors."""

    model_id: str
    dims: int


#: Official checkpoints by hub id.
CHECKPOINTS = {
    checkpoint.model_id: checkpoint
    for checkpoint in (
        EmbeddingCheckpoint("Qwen/Qwen3-VL-Embedding-2B", 2048),
        EmbeddingCheckpoint("Qwen/Qwen3-VL-Embedding-8B", 4096),
    )
}


def official_dims(model_id: str) -> int | None:
    """Full vector length of the official checkpoint ``model_id`` (a hub id), else ``None``."""
    checkpoint = CHECKPOINTS.get(model_id)
    return checkpoint.dims if checkpoint else None


def checked_dims(wanted: int | None, full: int, model_id: str) -> int:
    """The vector length to keep: ``wanted`` (Matryoshka truncation) or ``full``.

    Raises :class:`InvalidInputError` naming ``SEGLOCATE_EMBED_DIMS`` unless
    ``1 <= wanted <= full``.
    """
    if wanted is None:
        return full
    if not 1 <= wanted <= full:
        raise InvalidInputError(
            f"SEGLOCATE_EMBED_DIMS {wanted}",
            f"must be between 1 and {full}, the length of {model_id}'s vectors",
        )
    return wanted

"""Builds the window embedder the settings ask for; importing this module needs no torch.

``SEGLOCATE_EMBEDDER`` names it (``qwen3-vl-embedding``; unset, empty or ``off``: none),
``SEGLOCATE_EMBEDDER_MODEL`` its weights (default ``Qwen/Qwen3-VL-Embedding-2B``) and
``SEGLOCATE_EMBED_DIMS`` an optional Matryoshka truncation (1 to the model's 2048 or 4096).
A worker calls :func:`build_window_embedder` once per process and keeps the result; processes
that only need to know whether the settings are valid call :func:`check_embedder_settings`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from common.embedders.qwen3_vl_embedding_checkpoints import (
    EMBEDDER_NAME,
    checked_dims,
    official_dims,
)
from common.errors import InvalidInputError

if TYPE_CHECKING:
    from common.embedders.base import WindowEmbedder
    from common.settings import Settings

#: Values of ``SEGLOCATE_EMBEDDER`` that mean no embedder.
OFF = frozenset({"", "off", "none"})
#: Embedders :func:`build_window_embedder` can build.
EMBEDDERS = (EMBEDDER_NAME,)


def embedder_name(settings: Settings) -> str | None:
    """The canonical embedder ``settings`` name, or ``None`` when embedding is off.

    Raises :class:`InvalidInputError` (one line) for an unknown name.
    """
    value = (settings.embedder or "").strip().lower()
    if value in OFF:
        return None
    if value not in EMBEDDERS:
        raise InvalidInputError(
            f"SEGLOCATE_EMBEDDER {settings.embedder!r}",
            f"unknown embedder (choose {', '.join(EMBEDDERS)} or off)",
        )
    return value


def check_embedder_settings(settings: Settings) -> None:
    """Raise :class:`InvalidInputError` for an unknown embedder, or a truncation longer than
    an official checkpoint's vectors (a local directory's width is checked when it loads)."""
    if embedder_name(settings) is None:
        return
    full = official_dims(settings.embedder_model)
    if settings.embed_dims is not None:
        checked_dims(settings.embed_dims, full or settings.embed_dims, settings.embedder_model)


def build_window_embedder(settings: Settings) -> WindowEmbedder | None:
    """The embedder ``settings`` ask for, loaded (on CUDA when available); ``None`` when off.

    Raises :class:`InvalidInputError` for bad settings and
    :class:`~common.embedders.qwen3_vl_embedding_model.EmbedderLoadError` when the weights
    cannot be loaded.
    """
    check_embedder_settings(settings)
    if embedder_name(settings) is None:
        return None
    from common.embedders.qwen3_vl_embedding import Qwen3VLEmbedder

    # Frames at the official preset: a stored vector's identity does not record a preset.
    return Qwen3VLEmbedder(settings.embedder_model, dims=settings.embed_dims)

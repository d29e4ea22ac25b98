"""Qwen3-VL-Embedding behind the :class:`~common.embedders.base.WindowEmbedder` protocol.

One vector per window (its frames as a video, then its on-screen and spoken text) and one
per query (text, image, clip, or text with an image or a clip), in one space: the final
hidden state of the prompt's last token, L2-normalised, 2048 long for the 2B model and 4096
for the 8B, or its first ``dims`` values re-normalised (Matryoshka truncation). Prompts follow
the official wrapper (:mod:`common.embedders.qwen3_vl_embedding_prompt`): a query's
instruction is the system turn, a window gets the default one. Media are sized as the
reranker sizes them (:mod:`common.embedders.qwen3_vl_embedding_inputs`), so the producer's
frames for the ``qwen3-vl`` scorer serve the embedder too (:attr:`frame_requirements`).

Windows run many per forward pass, left-padded, in batches of at most ``max_batch_windows``
and ``max_batch_tokens`` padded tokens (the official wrapper pads right and reads the last
unpadded token: the same vector). Running out of GPU memory halves the batch instead of
failing. The model loads when the embedder is built: ``info`` carries the vector length and
the revision.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from common.embedders.base import EmbedderInfo
from common.embedders.qwen3_vl_embedding_checkpoints import (
    DEFAULT_MODEL,
    EMBEDDER_NAME,
    checked_dims,
)
from common.embedders.qwen3_vl_embedding_inputs import (
    InputPlan,
    batch_inputs,
    input_pieces,
    plan_query,
    plan_window,
)
from common.embedders.qwen3_vl_embedding_model import (
    EmbedderLoadError,
    LoadedEmbedder,
    adopt_embedding_model,
    check_template,
    forward_embeddings,
    load_embedding_model,
)
from common.embedders.qwen3_vl_embedding_prompt import MAX_LENGTH
from common.errors import InvalidInputError, QueryError
from common.scorers.base import FrameRequirements, LoadedQuery, WindowInput
from common.scorers.qwen3_vl_frames import DEFAULT_PRESET, frame_requirements, parse_frame_pixels
from common.scorers.qwen3_vl_prompt import KEEP_LAST_TOKENS, plan_batches, truncate_ids
from common.scorers.qwen3_vl_tokens import TokenCache

__all__ = ["DEFAULT_BATCH_WINDOWS", "EmbedderLoadError", "Qwen3VLEmbedder"]

logger = logging.getLogger(__name__)

#: Most windows per forward pass.
DEFAULT_BATCH_WINDOWS = 32
#: Padded tokens per forward pass, by device type.
DEFAULT_BATCH_TOKENS = {"cuda": 65536, "cpu": 8192}


class Qwen3VLEmbedder:
    """Embeds windows and queries with Qwen3-VL-Embedding; loads the model on construction.

    ``model``: hub id or local directory. ``dims``: keep the first ``dims`` values of each
    vector (Matryoshka; 1 to the model's width), default all. ``revision``: commit, branch or
    tag of a hub id. ``device``: default CUDA when available (bf16; fp32 on CPU).
    ``frame_pixels``: the frame-size preset (``official``, ``fast`` or a pixel count) of
    windows and query clips. ``max_length``: longest prompt in tokens (text beyond it is cut
    from the end). ``max_batch_tokens`` / ``max_batch_windows``: per forward pass.
    """

    needs_window_pixels = True

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        dims: int | None = None,
        revision: str | None = None,
        device: str | None = None,
        frame_pixels: str = DEFAULT_PRESET,
        max_length: int = MAX_LENGTH,
        max_batch_tokens: int | None = None,
        max_batch_windows: int = DEFAULT_BATCH_WINDOWS,
        attn_implementation: str | None = None,
        loaded: LoadedEmbedder | None = None,
    ) -> None:
        self.model_id = model
        self.frame_pixels = parse_frame_pixels(frame_pixels)
        #: How the producer must sample frames for this embedder (as for the reranker).
        self.frame_requirements: FrameRequirements = frame_requirements(self.frame_pixels)
        self.max_length = max_length
        self.max_batch_windows = max(1, max_batch_windows)
        if loaded is None:
            loaded = load_embedding_model(
                model, device_name=device, attn_implementation=attn_implementation,
                revision=revision,
            )  # fmt: skip
        self._loaded = loaded
        self.max_batch_tokens = max_batch_tokens or DEFAULT_BATCH_TOKENS.get(
            loaded.device.type, DEFAULT_BATCH_TOKENS["cpu"]
        )
        self.info = EmbedderInfo(
            name=EMBEDDER_NAME,
            model_id=model,
            revision=loaded.revision,
            dims=checked_dims(dims, loaded.hidden_size, model),
        )
        self._tokens = TokenCache()

    @classmethod
    def from_components(
        cls, model: Any, processor: Any, *, model_id: str, **options: Any
    ) -> Qwen3VLEmbedder:
        """An embedder around an already built Qwen3-VL model (any of the classes
        :func:`~common.embedders.qwen3_vl_embedding_model.adopt_embedding_model` takes) and
        processor: for benchmarks of architectures without weights."""
        attn = getattr(model.config, "_attn_implementation", None) or "default"
        loaded = adopt_embedding_model(model, processor, attn, model_id)
        check_template(loaded, model_id)
        return cls(model_id, loaded=loaded, **options)

    # --- the WindowEmbedder protocol -----------------------------------------------------------

    def embed_windows(self, windows: Sequence[WindowInput]) -> np.ndarray:
        """One L2-normalised float32 row per window, shape ``(len(windows), info.dims)``."""
        if not windows:
            return np.zeros((0, self.info.dims), dtype=np.float32)
        plans = [plan_window(window, self.frame_pixels) for window in windows]
        ids = [
            self._input_ids(plan, f"window {window.start:.2f}-{window.end:.2f} s")
            for plan, window in zip(plans, windows, strict=True)
        ]
        batches = plan_batches(
            [len(row) for row in ids], self.max_batch_tokens, self.max_batch_windows
        )
        rows = [
            self._embed_batch([plans[i] for i in batch], [ids[i] for i in batch])
            for batch in batches
        ]
        return np.concatenate(rows).astype(np.float32, copy=False)

    def embed_query(self, query: LoadedQuery) -> np.ndarray:
        """The query's L2-normalised float32 vector, shape ``(info.dims,)``."""
        plan = plan_query(query, parse_frame_pixels(query.frame_pixels or self.frame_pixels))
        ids = self._input_ids(plan, "query")
        return self._embed_batch([plan], [ids])[0]

    # --- extras for tests and tools ------------------------------------------------------------

    def window_token_ids(self, window: WindowInput) -> list[int]:
        """Token ids one window is embedded from (vision pads expanded, truncated)."""
        return self._input_ids(plan_window(window, self.frame_pixels), "window")

    def query_token_ids(self, query: LoadedQuery) -> list[int]:
        """Token ids a query is embedded from."""
        plan = plan_query(query, parse_frame_pixels(query.frame_pixels or self.frame_pixels))
        return self._input_ids(plan, "query")

    def window_inputs(self, windows: Sequence[WindowInput]) -> dict[str, torch.Tensor]:
        """The model inputs of these windows as one left-padded batch."""
        plans = [plan_window(window, self.frame_pixels) for window in windows]
        return batch_inputs(self._loaded, plans, [self._input_ids(p, "window") for p in plans])

    # --- internals -----------------------------------------------------------------------------

    def _input_ids(self, plan: InputPlan, subject: str) -> list[int]:
        full = self._tokens.encode(self._loaded, input_pieces(self._loaded, plan))
        ids = truncate_ids(full, self._loaded.special_ids, self.max_length, KEEP_LAST_TOKENS)
        if len(ids) > self.max_length:
            error = QueryError if plan.instruction is not None else InvalidInputError
            raise error(
                subject,
                f"needs {len(ids)} tokens after removing all text; the model reads at most "
                f"{self.max_length} (use a shorter clip, smaller frames: "
                "SEGLOCATE_FRAME_PIXELS=fast, or shorter windows)",
            )
        if len(ids) < len(full):
            logger.warning("%s: %d tokens truncated to %d", subject, len(full), len(ids))
        return ids

    def _embed_batch(self, plans: Sequence[InputPlan], ids: Sequence[list[int]]) -> np.ndarray:
        """Vectors of one batch; a pass that runs out of memory is split in halves."""
        try:
            inputs = batch_inputs(self._loaded, plans, ids)
            vectors = forward_embeddings(self._loaded, inputs, self.info.dims)
        except torch.OutOfMemoryError:
            if len(ids) == 1:
                raise
            if self._loaded.device.type == "cuda":
                torch.cuda.empty_cache()
            half = len(ids) // 2
            padded = len(ids) * max(map(len, ids))
            self.max_batch_tokens = max(1, min(self.max_batch_tokens, padded) // 2)
            logger.warning(
                "out of GPU memory with %d inputs; retrying in halves, batch token budget %d",
                len(ids),
                self.max_batch_tokens,
            )
            return np.concatenate(
                [
                    self._embed_batch(plans[:half], ids[:half]),
                    self._embed_batch(plans[half:], ids[half:]),
                ]
            )
        return vectors.numpy().astype(np.float32, copy=False)

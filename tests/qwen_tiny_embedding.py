"""A tiny, randomly initialised Qwen3-VL-Embedding built offline, for tests and dry runs.

:func:`save_tiny_embedder` writes a directory laid out as the official embedding checkpoints
are: a ``Qwen3VLPreTrainedModel`` holding a ``Qwen3VLModel`` as ``model`` (weights
``model.language_model.*`` and ``model.visual.*``, no LM head), with the processor, tokenizer
and chat template of :mod:`tests.qwen_tiny` (2 text layers of width 64: vectors of 64
values). Built in well under a second; no network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLModel, Qwen3VLPreTrainedModel

from tests.qwen_tiny import CHAT_TEMPLATE, build_processor, build_tokenizer, tiny_config

#: Length of the tiny model's vectors (its language model's width).
TINY_DIMS = 64


class TinyEmbeddingModel(Qwen3VLPreTrainedModel):
    """The official embedding model's layout: the backbone as ``model``, nothing else."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.model = Qwen3VLModel(config)
        self.post_init()


def save_tiny_embedder(
    directory: Path, seed: int = 0, *, chat_template: str = CHAT_TEMPLATE
) -> Path:
    """Build the tiny model and processor and ``save_pretrained`` both into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    processor = build_processor(build_tokenizer(), chat_template)
    torch.manual_seed(seed)
    config = tiny_config(processor.tokenizer)  # type: ignore[attr-defined]
    config.architectures = ["Qwen3VLForEmbedding"]
    model = TinyEmbeddingModel(config).eval()
    model.save_pretrained(directory, safe_serialization=True)
    processor.save_pretrained(directory)
    return directory

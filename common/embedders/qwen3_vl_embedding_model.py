"""Qwen3-VL-Embedding weights on a device: loading, checking, the pooled forward pass.

The official model class is a ``Qwen3VLPreTrainedModel`` holding a ``Qwen3VLModel`` as
``model`` and no LM head; :class:`EmbeddingBackbone` is the same shape, so the checkpoint's
``model.*`` weights load into it (an LM head, if a checkpoint has one, is ignored). Only the
backbone is kept. :func:`forward_embeddings` returns, per row, the last token's final hidden
state (rows are left-padded, so the last position: the official last-token pooling), cut to
the kept dimensions and L2-normalised.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLModel, Qwen3VLPreTrainedModel

from common.embedders.qwen3_vl_embedding_prompt import build_messages, render_prompt
from common.scorers.qwen3_vl_loading import (
    ModelLoadError,
    checked_marker_ids,
    load_pretrained,
    load_target,
    pad_token_id,
    template_difference,
)
from common.scorers.qwen3_vl_prompt import Side

logger = logging.getLogger("common.embedders.qwen3_vl_embedding")

#: Inputs whose rendering the checkpoint's chat template must reproduce exactly.
TEMPLATE_PROBES: tuple[tuple[str | None, Side], ...] = (
    (None, Side(videos=1)),
    (None, Side(videos=1, texts=("spoken words",))),
    ("Find the clip", Side(texts=("q",))),
    ("Find it.", Side(images=1, texts=("q",))),
    (None, Side()),
)


class EmbedderLoadError(ModelLoadError):
    """The embedder's weights or processor could not be loaded, or are not what it expects."""

    label = "qwen3-vl-embedding"


class EmbeddingBackbone(Qwen3VLPreTrainedModel):
    """A Qwen3-VL backbone without LM head, laid out as the official embedding model."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.model = Qwen3VLModel(config)
        self.post_init()


@dataclass
class LoadedEmbedder:
    """The resident model and everything derived from it once."""

    backbone: Any  #: ``Qwen3VLModel``
    processor: Any
    device: torch.device
    dtype: torch.dtype
    attn_implementation: str
    marker_ids: dict[str, int]
    special_ids: frozenset[int]
    pad_id: int
    #: Width of the language model: the full length of a vector.
    hidden_size: int
    #: The commit the weights came from (``None`` where unknown).
    revision: str | None = None
    templates: dict[tuple[str | None, Side], str] = field(default_factory=dict)


def load_embedding_model(
    model_id: str,
    *,
    device_name: str | None = None,
    attn_implementation: str | None = None,
    revision: str | None = None,
) -> LoadedEmbedder:
    """Load ``model_id`` (hub id or local directory) and its processor onto ``device_name``.

    ``device_name`` defaults to CUDA when available (bf16 there, fp32 on CPU); a local
    directory loads with ``local_files_only``, a hub id at ``revision`` (``None``: the hub's
    default branch). Raises :class:`EmbedderLoadError` when loading fails or the checkpoint's
    chat template or tokenizer is not what the embedder expects.
    """
    target = load_target(
        model_id,
        device_name=device_name,
        attn_implementation=attn_implementation,
        revision=revision,
        error=EmbedderLoadError,
    )
    logger.info(
        "loading %s on %s as %s with %s attention",
        model_id,
        target.device,
        target.dtype,
        target.attn,
    )
    started = time.perf_counter()
    processor, model, loaded_revision = load_pretrained(
        target, EmbeddingBackbone, model_id, revision, EmbedderLoadError
    )
    loaded = adopt_embedding_model(
        model, processor, target.attn, model_id, revision=loaded_revision
    )
    check_template(loaded, model_id)
    logger.info("loaded %s in %.1f s", model_id, time.perf_counter() - started)
    return loaded


def adopt_embedding_model(
    model: Any, processor: Any, attn: str, model_id: str, revision: str | None = None
) -> LoadedEmbedder:
    """Keep the backbone of a loaded model (an :class:`EmbeddingBackbone`, a
    ``Qwen3VLForConditionalGeneration`` or a bare ``Qwen3VLModel``); check the tokenizer."""
    tokenizer = processor.tokenizer
    marker_ids = checked_marker_ids(processor, model.config, model_id, revision, EmbedderLoadError)
    backbone = model if isinstance(model, Qwen3VLModel) else model.model
    backbone = backbone.eval()
    parameter = next(backbone.parameters())
    return LoadedEmbedder(
        backbone=backbone,
        processor=processor,
        device=parameter.device,
        dtype=parameter.dtype,
        attn_implementation=attn,
        marker_ids=marker_ids,
        special_ids=frozenset(tokenizer.all_special_ids),
        pad_id=pad_token_id(tokenizer),
        hidden_size=int(backbone.config.text_config.hidden_size),
        revision=revision,
    )


def render_template(loaded: LoadedEmbedder, instruction: str | None, side: Side) -> str:
    """The checkpoint's chat template applied to one input's messages (cached)."""
    key = (instruction, side)
    if key not in loaded.templates:
        if len(loaded.templates) >= 256:
            loaded.templates.clear()
        loaded.templates[key] = loaded.processor.apply_chat_template(
            build_messages(instruction, side), tokenize=False, add_generation_prompt=True
        )
    return loaded.templates[key]


def check_template(loaded: LoadedEmbedder, model_id: str) -> None:
    """Refuse a checkpoint whose chat template renders :data:`TEMPLATE_PROBES` differently
    from :func:`~common.embedders.qwen3_vl_embedding_prompt.render_prompt` (Qwen3-VL's ChatML
    layout): the model would read prompts it was not trained on."""
    for instruction, side in TEMPLATE_PROBES:
        expected = render_prompt(instruction, side)
        try:
            rendered = render_template(loaded, instruction, side)
        except Exception as exc:  # a template may fail in any way jinja can
            raise EmbedderLoadError(
                model_id, f"its chat template cannot render an input ({exc})", loaded.revision
            ) from exc
        if rendered != expected:
            raise EmbedderLoadError(
                model_id,
                "its chat template renders inputs differently from Qwen3-VL's: "
                + template_difference(rendered, expected),
                loaded.revision,
            )


def forward_embeddings(
    loaded: LoadedEmbedder, inputs: dict[str, torch.Tensor], dims: int
) -> torch.Tensor:
    """One forward pass of a left-padded batch: the last token's hidden state per row, its
    first ``dims`` values, L2-normalised; float32 on the CPU, shape ``(rows, dims)``."""
    with torch.inference_mode():
        output = loaded.backbone(**inputs, use_cache=False)
        last = output.last_hidden_state[:, -1, :dims].float()
        vectors = torch.nn.functional.normalize(last, p=2, dim=-1)
    return vectors.cpu()

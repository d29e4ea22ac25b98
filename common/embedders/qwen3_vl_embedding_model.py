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
from pathlib import Path
from typing import Any

import torch
from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLModel, Qwen3VLPreTrainedModel

from common.embedders.qwen3_vl_embedding_prompt import build_messages, render_prompt
from common.errors import SeglocateError
from common.scorers.qwen3_vl_checkpoints import directory_revision, is_local
from common.scorers.qwen3_vl_model import pick_attention
from common.scorers.qwen3_vl_prompt import IMAGE_PAD, RESERVED_MARKERS, Side

logger = logging.getLogger("common.embedders.qwen3_vl_embedding")

#: Inputs whose rendering the checkpoint's chat template must reproduce exactly.
TEMPLATE_PROBES: tuple[tuple[str | None, Side], ...] = (
    (None, Side(videos=1)),
    (None, Side(videos=1, texts=("spoken words",))),
    ("Find the clip", Side(texts=("q",))),
    ("Find it.", Side(images=1, texts=("q",))),
    (None, Side()),
)


class EmbedderLoadError(SeglocateError):
    """The embedder's weights or processor could not be loaded, or are not what it expects."""

    def __init__(self, model: str, reason: str, revision: str | None = None) -> None:
        at = f" (revision {revision})" if revision else ""
        super().__init__(f"qwen3-vl-embedding model {model!r}{at}: {reason}")
        self.model = model
        self.revision = revision
        self.reason = reason


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
    from transformers import AutoProcessor

    device = torch.device(device_name or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EmbedderLoadError(model_id, f"device {device} requested but CUDA is not available")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    attn = attn_implementation or pick_attention(device)
    local = is_local(model_id)
    source = str(Path(model_id).expanduser()) if local else model_id
    options: dict[str, Any] = {"local_files_only": True} if local else {"revision": revision}
    logger.info("loading %s on %s as %s with %s attention", model_id, device, dtype, attn)
    started = time.perf_counter()
    try:
        processor = AutoProcessor.from_pretrained(
            source, padding_side="left", use_fast=True, **options
        )
        model = EmbeddingBackbone.from_pretrained(
            source, dtype=dtype, attn_implementation=attn, **options
        )
    except (OSError, ValueError, ImportError, TypeError) as exc:
        raise EmbedderLoadError(model_id, f"cannot load ({exc})", revision) from exc
    if local:
        loaded_revision = directory_revision(source)
    else:
        loaded_revision = getattr(model.config, "_commit_hash", None) or revision
    model.to(device)
    loaded = adopt_embedding_model(model, processor, attn, model_id, revision=loaded_revision)
    check_template(loaded, model_id)
    logger.info("loaded %s in %.1f s", model_id, time.perf_counter() - started)
    return loaded


def adopt_embedding_model(
    model: Any, processor: Any, attn: str, model_id: str, revision: str | None = None
) -> LoadedEmbedder:
    """Keep the backbone of a loaded model (an :class:`EmbeddingBackbone`, a
    ``Qwen3VLForConditionalGeneration`` or a bare ``Qwen3VLModel``); check the tokenizer."""
    tokenizer = processor.tokenizer
    marker_ids = {marker: tokenizer.convert_tokens_to_ids(marker) for marker in RESERVED_MARKERS}
    unknown = [m for m, t in marker_ids.items() if t is None or t == tokenizer.unk_token_id]
    if unknown:
        raise EmbedderLoadError(model_id, f"its tokenizer lacks {', '.join(unknown)}", revision)
    if marker_ids[IMAGE_PAD] != model.config.image_token_id:
        raise EmbedderLoadError(
            model_id, "its tokenizer and model disagree on the image token id", revision
        )
    if getattr(processor, "chat_template", None) is None:
        raise EmbedderLoadError(model_id, "its processor has no chat template", revision)
    backbone = model if isinstance(model, Qwen3VLModel) else model.model
    backbone = backbone.eval()
    parameter = next(backbone.parameters())
    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    return LoadedEmbedder(
        backbone=backbone,
        processor=processor,
        device=parameter.device,
        dtype=parameter.dtype,
        attn_implementation=attn,
        marker_ids=marker_ids,
        special_ids=frozenset(tokenizer.all_special_ids),
        pad_id=int(pad_id),
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
            at = next(
                (i for i, (a, b) in enumerate(zip(rendered, expected, strict=False)) if a != b),
                min(len(rendered), len(expected)),
            )
            raise EmbedderLoadError(
                model_id,
                "its chat template renders inputs differently from Qwen3-VL's: at character "
                f"{at} it gives {rendered[max(0, at - 20) : at + 40]!r} where "
                f"{expected[max(0, at - 20) : at + 40]!r} is expected",
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

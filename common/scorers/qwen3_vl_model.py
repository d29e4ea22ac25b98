"""Qwen3-VL-Reranker weights on a device: loading, the yes/no projection, the forward pass.

Only the backbone (``Qwen3VLModel``) is kept after loading; of the LM head, the one row
``W[yes] - W[no]`` is all the score needs, so :func:`forward_scores` returns
``100 * sigmoid((W[yes] - W[no]) . h_last)`` per row. What goes into each forward pass is
decided by :class:`~common.scorers.qwen3_vl.Qwen3VLScorer`.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from common.errors import SeglocateError
from common.scorers.qwen3_vl_prompt import IMAGE_PAD, RESERVED_MARKERS, Side

# The scorer's logger, so loading is logged (and configured) under the scorer's module name.
logger = logging.getLogger("common.scorers.qwen3_vl")


class ScorerLoadError(SeglocateError):
    """The reranker's weights or processor could not be loaded."""

    def __init__(self, model: str, reason: str) -> None:
        super().__init__(f"qwen3-vl model {model!r}: {reason}")
        self.model = model
        self.reason = reason


@dataclass
class LoadedModel:
    """The resident model and everything derived from it once."""

    backbone: Any  #: ``Qwen3VLModel`` (the LM head is not kept)
    processor: Any
    yes_minus_no: torch.Tensor  #: ``W[yes] - W[no]``, float32, on ``device``
    device: torch.device
    dtype: torch.dtype
    attn_implementation: str
    marker_ids: dict[str, int]
    special_ids: frozenset[int]
    pad_id: int
    templates: dict[tuple[str, Side], str] = field(default_factory=dict)


def load_model(
    model_id: str, *, device_name: str | None = None, attn_implementation: str | None = None
) -> LoadedModel:
    """Load ``model_id`` (hub id or local directory) and its processor onto ``device_name``.

    ``device_name`` defaults to CUDA when available; ``attn_implementation`` to
    :func:`pick_attention`'s choice. Raises :class:`ScorerLoadError` when loading fails.
    """
    from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

    device = torch.device(device_name or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ScorerLoadError(model_id, f"device {device} requested but CUDA is not available")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    attn = attn_implementation or pick_attention(device)
    local = Path(model_id).expanduser().is_dir()
    source = str(Path(model_id).expanduser()) if local else model_id
    options: dict[str, Any] = {"local_files_only": True} if local else {}
    logger.info(
        "loading %s (%s) on %s as %s with %s attention",
        model_id,
        "local directory" if local else "hub id",
        device,
        str(dtype).removeprefix("torch."),
        attn,
    )
    started = time.perf_counter()
    try:
        processor = AutoProcessor.from_pretrained(
            source, padding_side="left", use_fast=True, **options
        )
        model = Qwen3VLForConditionalGeneration.from_pretrained(
            source, dtype=dtype, attn_implementation=attn, **options
        )
    except (OSError, ValueError, ImportError) as exc:
        raise ScorerLoadError(model_id, f"cannot load ({exc})") from exc
    model.to(device)
    loaded = adopt_model(model, processor, attn, model_id)
    del model  # the LM head's other rows are not needed; free them if untied
    message = f"loaded {model_id} in {time.perf_counter() - started:.1f} s"
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**30
        message += f"; peak GPU memory {peak:.2f} GiB"
    logger.info(message)
    return loaded


def pick_attention(device: torch.device) -> str:
    """``flash_attention_2`` on CUDA when ``flash_attn`` imports, else ``sdpa``."""
    if device.type != "cuda" or importlib.util.find_spec("flash_attn") is None:
        return "sdpa"
    try:
        import flash_attn  # noqa: F401
    except Exception as exc:  # a broken build must not stop scoring
        logger.info("flash_attn does not import (%s); using sdpa", exc)
        return "sdpa"
    return "flash_attention_2"


def adopt_model(model: Any, processor: Any, attn: str, model_id: str) -> LoadedModel:
    """Keep the backbone and the yes/no row difference of a loaded model; check the tokenizer."""
    tokenizer = processor.tokenizer
    vocab = tokenizer.get_vocab()
    missing = [word for word in ("yes", "no") if word not in vocab]
    if missing:
        raise ScorerLoadError(model_id, f"tokenizer has no single token for {', '.join(missing)}")
    marker_ids = {marker: tokenizer.convert_tokens_to_ids(marker) for marker in RESERVED_MARKERS}
    unknown = [
        marker
        for marker, token in marker_ids.items()
        if token is None or token == tokenizer.unk_token_id
    ]
    if unknown:
        raise ScorerLoadError(model_id, f"tokenizer lacks {', '.join(unknown)}")
    if marker_ids[IMAGE_PAD] != model.config.image_token_id:
        raise ScorerLoadError(model_id, "tokenizer and model disagree on the image token id")
    if getattr(processor, "chat_template", None) is None:
        raise ScorerLoadError(model_id, "processor has no chat template")
    head = model.get_output_embeddings().weight
    yes_minus_no = (head[vocab["yes"]].float() - head[vocab["no"]].float()).detach().clone()
    backbone = model.model.eval()
    parameter = next(backbone.parameters())
    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    return LoadedModel(
        backbone=backbone,
        processor=processor,
        yes_minus_no=yes_minus_no.to(parameter.device),
        device=parameter.device,
        dtype=parameter.dtype,
        attn_implementation=attn,
        marker_ids=marker_ids,
        special_ids=frozenset(tokenizer.all_special_ids),
        pad_id=int(pad_id),
    )


def forward_scores(loaded: LoadedModel, inputs: dict[str, torch.Tensor]) -> list[float]:
    """One forward pass: ``100 * sigmoid((W[yes] - W[no]) . h_last)`` per row."""
    with torch.inference_mode():
        output = loaded.backbone(**inputs, use_cache=False)
        last = output.last_hidden_state[:, -1, :].float()
        scores = torch.sigmoid(last @ loaded.yes_minus_no) * 100.0
    return [float(score) for score in scores.cpu()]

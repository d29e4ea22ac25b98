"""Loading a Qwen3-VL checkpoint, shared by Qwen3-VL-Reranker
(:mod:`common.scorers.qwen3_vl_model`) and Qwen3-VL-Embedding
(:mod:`common.embedders.qwen3_vl_embedding_model`): the device, precision and attention; the
processor and a Qwen3-VL model class from a hub id (at a revision) or a local directory, errors
wrapped in the caller's error class; the revision the weights came from; the checks of the
tokenizer and chat template both make.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from common.errors import SeglocateError
from common.scorers.qwen3_vl_checkpoints import directory_revision, is_local
from common.scorers.qwen3_vl_prompt import IMAGE_PAD, RESERVED_MARKERS


class ModelLoadError(SeglocateError):
    """A model's weights or processor could not be loaded, or are not what it expects."""

    #: The model family named in the message.
    label: ClassVar[str] = "qwen3-vl"

    def __init__(self, model: str, reason: str, revision: str | None = None) -> None:
        at = f" (revision {revision})" if revision else ""
        super().__init__(f"{self.label} model {model!r}{at}: {reason}")
        self.model = model
        self.revision = revision
        self.reason = reason


@dataclass
class LoadTarget:
    """Where and how a checkpoint loads."""

    device: torch.device
    dtype: torch.dtype  #: bf16 on CUDA, fp32 on CPU
    attn: str  #: attention implementation
    local: bool  #: a local directory (``local_files_only``), else a hub id
    source: str  #: what ``from_pretrained`` is given
    options: dict[str, Any]  #: ``local_files_only`` or ``revision``


def load_target(
    model_id: str,
    *,
    device_name: str | None,
    attn_implementation: str | None,
    revision: str | None,
    error: type[ModelLoadError],
) -> LoadTarget:
    """``device_name`` (default CUDA when available, else ``error``), its precision, the
    attention (default :func:`~common.scorers.qwen3_vl_model.pick_attention`'s), and how
    ``model_id`` loads: a local directory with ``local_files_only``, a hub id at ``revision``."""
    from common.scorers.qwen3_vl_model import pick_attention

    device = torch.device(device_name or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise error(model_id, f"device {device} requested but CUDA is not available")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    attn = attn_implementation or pick_attention(device)
    local = is_local(model_id)
    source = str(Path(model_id).expanduser()) if local else model_id
    options: dict[str, Any] = {"local_files_only": True} if local else {"revision": revision}
    return LoadTarget(device, dtype, attn, local, source, options)


def load_pretrained(
    target: LoadTarget,
    model_class: Any,
    model_id: str,
    revision: str | None,
    error: type[ModelLoadError],
) -> tuple[Any, Any, str | None]:
    """(processor, model on the target device, the revision loaded): the left-padding
    processor and ``model_class`` from ``target``, a failure as ``error``. The revision is the
    local directory's own (``None`` where it does not say), else the hub's commit, else
    ``revision``."""
    from transformers import AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(
            target.source, padding_side="left", use_fast=True, **target.options
        )
        model = model_class.from_pretrained(
            target.source, dtype=target.dtype, attn_implementation=target.attn, **target.options
        )
    except (OSError, ValueError, ImportError, TypeError) as exc:
        raise error(model_id, f"cannot load ({exc})", revision) from exc
    if target.local:
        loaded_revision = directory_revision(target.source)
    else:
        loaded_revision = getattr(model.config, "_commit_hash", None) or revision
    model.to(target.device)
    return processor, model, loaded_revision


def checked_marker_ids(
    processor: Any,
    model_config: Any,
    model_id: str,
    revision: str | None,
    error: type[ModelLoadError],
) -> dict[str, int]:
    """The reserved markers' token ids; ``error`` when the tokenizer lacks one, disagrees with
    the model on the image token, or the processor has no chat template."""
    tokenizer = processor.tokenizer
    marker_ids = {marker: tokenizer.convert_tokens_to_ids(marker) for marker in RESERVED_MARKERS}
    unknown = [
        marker
        for marker, token in marker_ids.items()
        if token is None or token == tokenizer.unk_token_id
    ]
    if unknown:
        raise error(model_id, f"its tokenizer lacks {', '.join(unknown)}", revision)
    if marker_ids[IMAGE_PAD] != model_config.image_token_id:
        raise error(model_id, "its tokenizer and model disagree on the image token id", revision)
    if getattr(processor, "chat_template", None) is None:
        raise error(model_id, "its processor has no chat template", revision)
    return marker_ids


def pad_token_id(tokenizer: Any) -> int:
    """The tokenizer's padding token, else its end-of-sequence token."""
    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    return int(pad_id)


def template_difference(rendered: str, expected: str) -> str:
    """Where ``rendered`` first differs from ``expected``, with 60 characters around it."""
    at = next(
        (i for i, (a, b) in enumerate(zip(rendered, expected, strict=False)) if a != b),
        min(len(rendered), len(expected)),
    )
    return (
        f"at character {at} it gives {rendered[max(0, at - 20) : at + 40]!r} where "
        f"{expected[max(0, at - 20) : at + 40]!r} is expected"
    )

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
from typing import Any

import torch

from common.scorers.qwen3_vl_budget import (
    ModelWidths,
    activation_bytes_per_token,
    batch_token_budget,
)
from common.scorers.qwen3_vl_checkpoints import (
    official_checkpoint,
    revision_to_load,
)
from common.scorers.qwen3_vl_loading import (
    ModelLoadError,
    checked_marker_ids,
    load_pretrained,
    load_target,
    pad_token_id,
    template_difference,
)
from common.scorers.qwen3_vl_prompt import (
    DEFAULT_INSTRUCTION,
    Side,
    build_messages,
    render_prompt,
)

# The scorer's logger, so loading is logged (and configured) under the scorer's module name.
logger = logging.getLogger("common.scorers.qwen3_vl")


class ScorerLoadError(ModelLoadError):
    """The reranker's weights or processor could not be loaded, or are not what it expects."""

    label = "qwen3-vl"


#: Pairs whose rendering the checkpoint's chat template must reproduce exactly.
TEMPLATE_PROBES = (
    (Side(texts=("q",)), Side(videos=1)),
    (Side(images=1, texts=("q",)), Side(videos=1, texts=("spoken words",))),
    (Side(videos=1), Side(texts=("d",))),
)


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
    #: The commit the weights came from (``None`` for a local directory that does not say).
    revision: str | None = None
    templates: dict[tuple[str, Side, Side], str] = field(default_factory=dict)


def load_model(
    model_id: str,
    *,
    device_name: str | None = None,
    attn_implementation: str | None = None,
    revision: str | None = None,
) -> LoadedModel:
    """Load ``model_id`` (hub id or local directory) and its processor onto ``device_name``.

    ``device_name`` defaults to CUDA when available (bf16 there, fp32 on CPU);
    ``attn_implementation`` to :func:`pick_attention`'s choice. A hub id loads at
    ``revision`` (``SEGLOCATE_MODEL_REVISION``), by default the official checkpoint's pinned
    commit (:mod:`common.scorers.qwen3_vl_checkpoints`). Raises :class:`ScorerLoadError` when
    loading fails or the checkpoint's chat template or yes/no tokens are not the ones the
    scorer expects.
    """
    from transformers import Qwen3VLForConditionalGeneration

    wanted = revision_to_load(model_id, revision)
    target = load_target(
        model_id,
        device_name=device_name,
        attn_implementation=attn_implementation,
        revision=wanted,
        error=ScorerLoadError,
    )
    device = target.device
    logger.info(
        "loading %s (%s) on %s as %s with %s attention",
        model_id,
        "local directory" if target.local else f"hub id at revision {wanted or 'main'}",
        device,
        str(target.dtype).removeprefix("torch."),
        target.attn,
    )
    started = time.perf_counter()
    processor, model, loaded_revision = load_pretrained(
        target, Qwen3VLForConditionalGeneration, model_id, wanted, ScorerLoadError
    )
    loaded = adopt_model(model, processor, target.attn, model_id, revision=loaded_revision)
    check_checkpoint(loaded, model_id)
    del model  # the LM head's other rows are not needed; free them if untied
    message = f"loaded {model_id} in {time.perf_counter() - started:.1f} s"
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**30
        message += f"; peak GPU memory {peak:.2f} GiB"
    logger.info(message)
    return loaded


def check_checkpoint(loaded: LoadedModel, model_id: str) -> None:
    """Refuse a checkpoint whose chat template or yes/no tokens differ from the official ones.

    The template must render :data:`TEMPLATE_PROBES` exactly as
    :func:`~common.scorers.qwen3_vl_prompt.render_prompt` does (Qwen3-VL's ChatML layout, no
    ``<think>`` block); ``yes`` and ``no`` must each be one ordinary token, and for an official
    hub id the ones the official checkpoint uses. Raises :class:`ScorerLoadError` naming the
    checkpoint, its revision and what differs.
    """
    for query, document in TEMPLATE_PROBES:
        expected = render_prompt(DEFAULT_INSTRUCTION, query, document)
        try:
            rendered = render_template(loaded, DEFAULT_INSTRUCTION, query, document)
        except Exception as exc:  # a template may fail in any way jinja can
            raise ScorerLoadError(
                model_id,
                f"its chat template cannot render a reranker prompt ({exc})",
                loaded.revision,
            ) from exc
        if rendered != expected:
            raise ScorerLoadError(
                model_id,
                "its chat template renders the reranker prompt differently from Qwen3-VL's: "
                f"{template_difference(rendered, expected)} "
                "(use the official checkpoint, or pin SEGLOCATE_MODEL_REVISION to one)",
                loaded.revision,
            )
    tokenizer = loaded.processor.tokenizer
    checkpoint = official_checkpoint(model_id)
    expected_ids = {"yes": checkpoint.yes_id, "no": checkpoint.no_id} if checkpoint else {}
    for word in ("yes", "no"):
        ids = tokenizer.encode(word, add_special_tokens=False)
        if len(ids) != 1 or ids[0] in loaded.special_ids:
            raise ScorerLoadError(
                model_id,
                f"its tokenizer reads {word!r} as {ids} (one ordinary token is expected)",
                loaded.revision,
            )
        if word in expected_ids and ids[0] != expected_ids[word]:
            raise ScorerLoadError(
                model_id,
                f"its tokenizer gives {word!r} the id {ids[0]}; the official checkpoint's is "
                f"{expected_ids[word]}",
                loaded.revision,
            )


def render_template(loaded: LoadedModel, instruction: str, query: Side, document: Side) -> str:
    """The checkpoint's chat template applied to one pair's messages (cached)."""
    key = (instruction, query, document)
    if key not in loaded.templates:
        if len(loaded.templates) >= 256:
            loaded.templates.clear()
        messages = build_messages(instruction, query, document)
        loaded.templates[key] = loaded.processor.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
    return loaded.templates[key]


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


def adopt_model(
    model: Any, processor: Any, attn: str, model_id: str, revision: str | None = None
) -> LoadedModel:
    """Keep the backbone and the yes/no row difference of a loaded model; check the tokenizer."""
    tokenizer = processor.tokenizer
    vocab = tokenizer.get_vocab()
    missing = [word for word in ("yes", "no") if word not in vocab]
    if missing:
        raise ScorerLoadError(
            model_id, f"its tokenizer has no single token for {', '.join(missing)}", revision
        )
    marker_ids = checked_marker_ids(processor, model.config, model_id, revision, ScorerLoadError)
    head = model.get_output_embeddings().weight
    yes_minus_no = (head[vocab["yes"]].float() - head[vocab["no"]].float()).detach().clone()
    backbone = model.model.eval()
    parameter = next(backbone.parameters())
    return LoadedModel(
        backbone=backbone,
        processor=processor,
        yes_minus_no=yes_minus_no.to(parameter.device),
        device=parameter.device,
        dtype=parameter.dtype,
        attn_implementation=attn,
        marker_ids=marker_ids,
        special_ids=frozenset(tokenizer.all_special_ids),
        pad_id=pad_token_id(tokenizer),
        revision=revision,
    )


def free_memory_batch_tokens(loaded: LoadedModel) -> int:
    """Padded tokens per forward pass that fit in the device's free memory now (CUDA only):
    :func:`~common.scorers.qwen3_vl_budget.batch_token_budget` for this model's widths."""
    free, _total = torch.cuda.mem_get_info(loaded.device)
    widths = ModelWidths.from_config(loaded.backbone.config)
    dtype_bytes = torch.empty((), dtype=loaded.dtype).element_size()
    return batch_token_budget(free, activation_bytes_per_token(widths, dtype_bytes))


def forward_scores(loaded: LoadedModel, inputs: dict[str, torch.Tensor]) -> list[float]:
    """One forward pass: ``100 * sigmoid((W[yes] - W[no]) . h_last)`` per row."""
    with torch.inference_mode():
        output = loaded.backbone(**inputs, use_cache=False)
        last = output.last_hidden_state[:, -1, :].float()
        scores = torch.sigmoid(last @ loaded.yes_minus_no) * 100.0
    return [float(score) for score in scores.cpu()]

"""What Qwen3-VL-Embedding reads for a window or a query: planned media, token ids, tensors.

Windows and query media are sized exactly as the reranker sizes them (the official embedder
and reranker share their constants: QwenLM/Qwen3-VL-Embedding ``qwen3_vl_embedding.py`` lines
24-32 and ``qwen3_vl_reranker.py`` lines 17-25), with the reranker's planning and pixel
functions (:mod:`common.scorers.qwen3_vl_plans`, :mod:`common.scorers.qwen3_vl_pixels`): a
window's frames padded to an even count of at least four, real timestamps, the window's text
after its frames; a query image within 4 to 1,800 tokens; a query clip thinned to 64 frames
within the file path's pixel budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from common.embedders.qwen3_vl_embedding_model import LoadedEmbedder, render_template
from common.embedders.qwen3_vl_embedding_prompt import query_instruction
from common.errors import QueryError
from common.scorers.base import LoadedQuery, WindowInput
from common.scorers.qwen3_vl_pixels import (
    EncodedMedia,
    checked_rgb,
    encode_image,
    encode_videos,
    fit_size,
)
from common.scorers.qwen3_vl_plans import (
    MediaPlan,
    check_query_markers,
    plan_query_video,
    plan_window_video,
)
from common.scorers.qwen3_vl_prompt import (
    IMAGE_MAX_PIXELS,
    IMAGE_MIN_PIXELS,
    Piece,
    expand_prompt,
    strip_reserved_markers,
)
from common.scorers.specs import scorer_spec

#: Query kinds and the longest query clip: the reranker's (the same official sampler).
QUERY_SPEC = scorer_spec("qwen3-vl")


@dataclass
class InputPlan(MediaPlan):
    """One input (a window or a query) before its pixels are encoded."""

    instruction: str | None  #: ``None``: a document (the default instruction)


def plan_window(window: WindowInput, preset: str) -> InputPlan:
    """A window as a document: its frames as one video, then its text (markers removed)."""
    video = plan_window_video(window, preset, "the qwen3-vl-embedding embedder needs pixels")
    text = strip_reserved_markers(window.text or "").strip()
    return InputPlan(instruction=None, texts=(text,) if text else (), video=video)


def plan_query(query: LoadedQuery, preset: str) -> InputPlan:
    """A query with its instruction (the job's, else its kinds'); raises :class:`QueryError`."""
    kinds = query.kinds()
    QUERY_SPEC.check_query_kinds(kinds)
    instruction = query_instruction(query.instruction, kinds)
    check_query_markers(instruction, query.text or "")
    plan = InputPlan(instruction=instruction, texts=(query.text,) if query.text else ())
    if query.image is not None:
        plan.image = checked_rgb(query.image, "query image", QueryError)
        plan.image_size = fit_size(
            plan.image, IMAGE_MIN_PIXELS, IMAGE_MAX_PIXELS, "query image", QueryError
        )
    if query.video_frames:
        plan.video = plan_query_video(query, preset, QUERY_SPEC.max_query_clip_s)
    return plan


def input_pieces(loaded: LoadedEmbedder, plan: InputPlan) -> list[Piece]:
    """The input's prompt, rendered by the checkpoint's template, vision placeholders expanded."""
    prompt = render_template(loaded, plan.instruction, plan.side)
    videos = [plan.video.layout] if plan.video is not None else []
    return expand_prompt(prompt, plan.image_tokens, videos)


def batch_inputs(
    loaded: LoadedEmbedder, plans: Sequence[InputPlan], ids: Sequence[list[int]]
) -> dict[str, torch.Tensor]:
    """Left-padded token ids, attention mask, pixels and grids of a batch, on the device."""
    count, width = len(ids), max(map(len, ids))
    input_ids = torch.full((count, width), loaded.pad_id, dtype=torch.long)
    attention_mask = torch.zeros((count, width), dtype=torch.long)
    for row, tokens in enumerate(ids):
        input_ids[row, width - len(tokens) :] = torch.tensor(tokens, dtype=torch.long)
        attention_mask[row, width - len(tokens) :] = 1
    inputs: dict[str, torch.Tensor] = {"input_ids": input_ids, "attention_mask": attention_mask}
    images: list[EncodedMedia] = [
        encode_image(loaded, plan.image, plan.image_size)
        for plan in plans
        if plan.image is not None
    ]
    if images:
        inputs["pixel_values"] = torch.cat([m.pixels for m in images])
        inputs["image_grid_thw"] = torch.cat([m.grid for m in images])
    videos = [plan.video for plan in plans if plan.video is not None]
    if videos:
        encoded = encode_videos(loaded, videos)
        inputs["pixel_values_videos"] = torch.cat([m.pixels for m in encoded])
        inputs["video_grid_thw"] = torch.cat([m.grid for m in encoded])
    return {
        name: tensor.to(
            loaded.device,
            dtype=loaded.dtype if tensor.is_floating_point() else tensor.dtype,
            non_blocking=True,
        )
        for name, tensor in inputs.items()
    }

"""Pure prompt arithmetic for Qwen3-VL-Embedding: instructions and chat messages; torch-free.

The rules are those of the official wrapper (QwenLM/Qwen3-VL-Embedding
``src/models/qwen3_vl_embedding.py`` at 8ce3aab, ``Qwen3VLEmbedder.format_model_input``):

- the instruction is the **system** turn: stripped, and given a final ``.`` unless it already
  ends with punctuation (any Unicode ``P*`` category); none (or blank) means the default
  ``Represent the user's input.``;
- the user turn holds videos, then images, then texts, with no separators; an input with none
  of them is the text ``NULL``;
- the chat template is applied with ``add_generation_prompt=True``, and the embedding is the
  final hidden state of the last token (the ``\\n`` after ``<|im_start|>assistant``).

Queries carry an instruction (the job's, else one per query kind: the official evaluation's
moment-retrieval instructions, :func:`~common.scorers.qwen3_vl_prompt.default_instruction`);
windows are documents and carry none (the official moment-retrieval evaluation embeds its
candidate clips with the default instruction). Vision placeholders are expanded, token ids
truncated and batches planned by the reranker's pure functions
(:mod:`common.scorers.qwen3_vl_prompt`), which follow the same transformers layout.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from common.scorers.qwen3_vl_prompt import (
    EMPTY_SIDE,
    IM_END,
    IM_START,
    IMAGE_PAD,
    VIDEO_PAD,
    VISION_END,
    VISION_START,
    Side,
    default_instruction,
)

#: The official wrapper's default instruction (its ``default_instruction`` argument).
DEFAULT_INSTRUCTION = "Represent the user's input."
#: Longest input in tokens the official wrapper feeds the model (its ``MAX_LENGTH``).
MAX_LENGTH = 8192


def punctuated(instruction: str | None) -> str | None:
    """``instruction`` stripped and ending in punctuation (``.`` added when it does not), or
    ``None`` when it is empty: the official punctuation rule."""
    text = (instruction or "").strip()
    if not text:
        return None
    if not unicodedata.category(text[-1]).startswith("P"):
        text += "."
    return text


def system_text(instruction: str | None) -> str:
    """The system turn's text for ``instruction`` (``None``: a document, the default)."""
    return punctuated(instruction) or DEFAULT_INSTRUCTION


def query_instruction(instruction: str | None, kinds: frozenset[str]) -> str:
    """The instruction a query is embedded with: the job's when given, else the one for its
    kinds (``text``, ``image``, ``video``), as the reranker picks it."""
    return (instruction or "").strip() or default_instruction(kinds)


def user_items(side: Side) -> list[dict[str, Any]]:
    """The user turn's items: videos, images, texts; ``NULL`` when there is nothing.

    Media items are placeholders: the chat template only needs to know their kind.
    """
    items: list[dict[str, Any]] = [
        {"type": "video", "video": f"video-{index}"} for index in range(side.videos)
    ]
    items += [{"type": "image", "image": f"image-{index}"} for index in range(side.images)]
    items += [{"type": "text", "text": text} for text in side.texts]
    return items or [{"type": "text", "text": EMPTY_SIDE}]


def build_messages(instruction: str | None, side: Side) -> list[dict[str, Any]]:
    """Chat messages of one input: the instruction as the system turn, the input as the user's."""
    return [
        {"role": "system", "content": [{"type": "text", "text": system_text(instruction)}]},
        {"role": "user", "content": user_items(side)},
    ]


def render_prompt(instruction: str | None, side: Side) -> str:
    """What Qwen3-VL's chat template renders for :func:`build_messages` with
    ``add_generation_prompt=True`` (ChatML turns; an image as
    ``<|vision_start|><|image_pad|><|vision_end|>``, a video the same with ``<|video_pad|>``).

    Used to check a checkpoint's own template, which renders the prompts the model reads.
    """
    parts: list[str] = []
    for item in user_items(side):
        if item["type"] == "video":
            parts.append(VISION_START + VIDEO_PAD + VISION_END)
        elif item["type"] == "image":
            parts.append(VISION_START + IMAGE_PAD + VISION_END)
        else:
            parts.append(item["text"])
    return (
        f"{IM_START}system\n{system_text(instruction)}{IM_END}\n"
        f"{IM_START}user\n{''.join(parts)}{IM_END}\n"
        f"{IM_START}assistant\n"
    )

"""Pure prompt arithmetic for Qwen3-VL-Reranker: messages, vision layout, truncation, batches.

Nothing here touches torch, files or the model. The scorer in :mod:`common.scorers.qwen3_vl`
renders :func:`build_messages` with the model's chat template, expands the vision placeholders
with :func:`expand_prompt` (transformers 4.57's layout, the one the model was trained on),
tokenises the text pieces, applies :func:`truncate_ids` and groups pairs with
:func:`plan_batches`. See ``shared/docs/reranker-facts.md`` for where each rule comes from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from common.resize import MAX_ASPECT_RATIO as MAX_ASPECT_RATIO
from common.resize import smart_resize
from common.scorers.qwen3_vl_frames import IMAGE_MAX_PIXELS as IMAGE_MAX_PIXELS
from common.scorers.qwen3_vl_frames import IMAGE_MIN_PIXELS as IMAGE_MIN_PIXELS
from common.scorers.qwen3_vl_frames import TEMPORAL_PATCH_SIZE as TEMPORAL_PATCH_SIZE
from common.scorers.qwen3_vl_frames import VIDEO_FRAME_MAX_PIXELS as VIDEO_FRAME_MAX_PIXELS

#: System message of the reranker, verbatim.
SYSTEM_PROMPT = (
    "Judge whether the Document meets the requirements based on the Query and the Instruct "
    'provided. Note that the answer can only be "yes" or "no".'
)
#: The official wrapper's default instruction (``Qwen3VLReranker.__init__``), for query kinds
#: without a better one.
DEFAULT_INSTRUCTION = "Given a search query, retrieve relevant candidates that answer the query."
#: Instructions by query kind when the job gives none. Text: the one the official
#: moment-retrieval evaluation used (QwenLM/Qwen3-VL-Embedding at 8ce3aab,
#: ``src/evaluation/mmeb_v2/data/datasets/moment_retrieval_datasets.py`` line 10, QVHighlight
#: and Charades-STA). Image and clip queries: the MomentSeeker evaluation's image and video
#: instructions (``momentseeker_dataset.py`` lines 11-12), worded for the parts the query has.
KIND_INSTRUCTIONS: dict[frozenset[str], str] = {
    frozenset({"text"}): (
        "Find the clip that corresponds to the described scene in the given video."
    ),
    frozenset({"image"}): "Select the video clip that aligns with the given image.",
    frozenset({"text", "image"}): (
        "Select the video clip that aligns with the given text and image."
    ),
    frozenset({"video"}): "Find the clip that corresponds to the given video segment.",
    frozenset({"text", "video"}): (
        "Find the clip that corresponds to the given sentence and video segment."
    ),
}
#: Text standing in for an empty query or document side.
EMPTY_SIDE = "NULL"
QUERY_PREFIX = "<Query>:"
DOCUMENT_PREFIX = "\n<Document>:"
INSTRUCT_PREFIX = "<Instruct>: "

#: Longest prompt in tokens the official wrapper feeds the model (the model supports 32K).
MAX_LENGTH = 10240
#: Tokens at the end that truncation never touches: ``<|im_end|>\n<|im_start|>assistant\n``.
KEEP_LAST_TOKENS = 5

#: Vision patch side, pixels.
PATCH_SIZE = 16
#: Patches merged per side into one language-model token.
MERGE_SIZE = 2
#: Side of the pixel square one language-model token covers (per pair of frames for video).
TOKEN_SIDE = PATCH_SIZE * MERGE_SIZE
# Frame and image bounds, the temporal patch and the widest aspect ratio are re-exported from
# common.scorers.qwen3_vl_frames and common.resize (imported above).

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
IMAGE_PAD = "<|image_pad|>"
VIDEO_PAD = "<|video_pad|>"
#: Markers the prompt layout relies on; user text must not contain them.
RESERVED_MARKERS = (IM_START, IM_END, VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD)
_MARKER_SPLIT = re.compile("(" + "|".join(re.escape(marker) for marker in RESERVED_MARKERS) + ")")


# --- messages ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """What one side (query or document) of a pair holds, in the order the model reads it."""

    videos: int = 0  #: number of videos
    images: int = 0  #: number of images
    texts: tuple[str, ...] = ()


def side_items(prefix: str, side: Side) -> list[dict[str, Any]]:
    """``prefix`` then videos, images and texts, or ``NULL`` when the side is empty."""
    items: list[dict[str, Any]] = [{"type": "text", "text": prefix}]
    items += [{"type": "video", "video": f"video-{index}"} for index in range(side.videos)]
    items += [{"type": "image", "image": f"image-{index}"} for index in range(side.images)]
    items += [{"type": "text", "text": text} for text in side.texts]
    if len(items) == 1:
        items.append({"type": "text", "text": EMPTY_SIDE})
    return items


def build_messages(instruction: str, query: Side, document: Side) -> list[dict[str, Any]]:
    """Chat messages for one pair, as the official reranker builds them.

    Media items are placeholders: the chat template only needs to know their kind.
    """
    content: list[dict[str, Any]] = [{"type": "text", "text": INSTRUCT_PREFIX + instruction}]
    content += side_items(QUERY_PREFIX, query)
    content += side_items(DOCUMENT_PREFIX, document)
    return [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]},
        {"role": "user", "content": content},
    ]


def default_instruction(kinds: frozenset[str]) -> str:
    """The instruction for a query with these parts (``text``, ``image``, ``video``) when the
    job gives none (:data:`KIND_INSTRUCTIONS`, else :data:`DEFAULT_INSTRUCTION`)."""
    return KIND_INSTRUCTIONS.get(frozenset(kinds), DEFAULT_INSTRUCTION)


def render_prompt(instruction: str, query: Side, document: Side) -> str:
    """The prompt Qwen3-VL's chat template renders for :func:`build_messages` with
    ``add_generation_prompt=True``: ChatML system and user turns, each image as
    ``<|vision_start|><|image_pad|><|vision_end|>`` and each video as the same with
    ``<|video_pad|>``, items joined with no separator, then ``<|im_start|>assistant\\n``.

    Used to check a checkpoint's own template, which renders the prompts the model reads.
    """
    parts: list[str] = []
    for item in build_messages(instruction, query, document)[1]["content"]:
        if item["type"] == "image":
            parts.append(VISION_START + IMAGE_PAD + VISION_END)
        elif item["type"] == "video":
            parts.append(VISION_START + VIDEO_PAD + VISION_END)
        else:
            parts.append(item["text"])
    return (
        f"{IM_START}system\n{SYSTEM_PROMPT}{IM_END}\n"
        f"{IM_START}user\n{''.join(parts)}{IM_END}\n"
        f"{IM_START}assistant\n"
    )


def strip_reserved_markers(text: str) -> str:
    """``text`` without chat or vision markers (document text read from screens or speech)."""
    for marker in RESERVED_MARKERS:
        text = text.replace(marker, "")
    return text


def reserved_marker_in(text: str) -> str | None:
    """The first chat or vision marker found in user text, or ``None``."""
    for marker in RESERVED_MARKERS:
        if marker in text:
            return marker
    return None


# --- vision geometry ---------------------------------------------------------------------------


def patch_aligned_size(
    height: int,
    width: int,
    *,
    min_pixels: int,
    max_pixels: int,
    factor: int = TOKEN_SIDE,
) -> tuple[int, int]:
    """Resized (height, width) in pixels as qwen-vl-utils sizes images and frames
    (:func:`common.resize.smart_resize`): sides rounded to multiples of ``factor``, area
    within bounds, aspect kept as closely as the rounding allows. Raises ``ValueError`` for an
    empty image or an aspect ratio wider than :data:`MAX_ASPECT_RATIO`."""
    return smart_resize(height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)


def tokens_per_frame_group(height: int, width: int) -> int:
    """Language-model tokens for one image, or one pair of video frames, of this size (px)."""
    return (height // TOKEN_SIDE) * (width // TOKEN_SIDE)


def pad_to_even(positions: Sequence[int]) -> list[int]:
    """Repeat the last item until the length is a multiple of the temporal patch (2)."""
    padded = list(positions)
    while padded and len(padded) % TEMPORAL_PATCH_SIZE:
        padded.append(padded[-1])
    return padded


def group_timestamps(frame_indices: Sequence[int], fps: float) -> list[float]:
    """Seconds shown before each pair of frames: the mean time of the pair's first and last frame.

    ``frame_indices`` count sampled frames from the start of the clip at ``fps`` frames per
    second; an odd count is padded by repeating the last index, as transformers does.
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    times = [index / fps for index in pad_to_even(frame_indices)]
    step = TEMPORAL_PATCH_SIZE
    return [(times[i] + times[i + step - 1]) / 2 for i in range(0, len(times), step)]


def timestamp_text(seconds: float) -> str:
    """The text the model reads before a pair of frames, e.g. ``<2.5 seconds>``."""
    return f"<{seconds:.1f} seconds>"


@dataclass(frozen=True)
class VideoLayout:
    """How one video appears in the token stream: a timestamp and a token run per frame pair."""

    timestamps: tuple[float, ...]  #: seconds, one per pair of frames
    tokens_per_group: int  #: ``<|video_pad|>`` tokens per pair of frames

    @property
    def vision_tokens(self) -> int:
        return len(self.timestamps) * self.tokens_per_group


# --- expansion ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextPiece:
    """Plain text, tokenised by the tokenizer."""

    text: str


@dataclass(frozen=True)
class TokenRun:
    """``count`` copies of one special token (a marker or a vision placeholder)."""

    token: str
    count: int = 1


Piece = TextPiece | TokenRun


def expand_prompt(
    prompt: str, image_tokens: Sequence[int], videos: Sequence[VideoLayout]
) -> list[Piece]:
    """Split a rendered prompt into text and special-token runs, vision placeholders expanded.

    Images (``<|image_pad|>``) take ``image_tokens[i]`` pads; videos
    (``<|vision_start|><|video_pad|><|vision_end|>``) become, per pair of frames,
    ``<t seconds><|vision_start|>`` pads ``<|vision_end|>`` with no outer wrapper: the
    layout of transformers 4.57. Adjacent text is merged so it tokenises as one string.
    """
    parts = [part for part in _MARKER_SPLIT.split(prompt) if part]
    pieces: list[Piece] = []
    image_iter, video_iter = iter(image_tokens), iter(videos)
    position = 0
    while position < len(parts):
        part = parts[position]
        if parts[position : position + 3] == [VISION_START, VIDEO_PAD, VISION_END]:
            pieces += _video_pieces(_next(video_iter, "video"))
            position += 3
            continue
        if part == VIDEO_PAD:
            pieces += _video_pieces(_next(video_iter, "video"))
        elif part == IMAGE_PAD:
            pieces.append(TokenRun(IMAGE_PAD, _next(image_iter, "image")))
        elif part in RESERVED_MARKERS:
            pieces.append(TokenRun(part))
        else:
            pieces.append(TextPiece(part))
        position += 1
    if next(image_iter, None) is not None or next(video_iter, None) is not None:
        raise ValueError("more images or videos given than the prompt has placeholders")
    return _merge_text(pieces)


def _next(items: Any, kind: str) -> Any:
    try:
        return next(items)
    except StopIteration:
        raise ValueError(f"prompt has more {kind} placeholders than {kind}s given") from None


def _video_pieces(layout: VideoLayout) -> list[Piece]:
    pieces: list[Piece] = []
    for seconds in layout.timestamps:
        pieces += [
            TextPiece(timestamp_text(seconds)),
            TokenRun(VISION_START),
            TokenRun(VIDEO_PAD, layout.tokens_per_group),
            TokenRun(VISION_END),
        ]
    return pieces


def _merge_text(pieces: list[Piece]) -> list[Piece]:
    merged: list[Piece] = []
    for piece in pieces:
        if isinstance(piece, TextPiece) and merged and isinstance(merged[-1], TextPiece):
            merged[-1] = TextPiece(merged[-1].text + piece.text)
        else:
            merged.append(piece)
    return merged


def pieces_text(pieces: Sequence[Piece]) -> str:
    """The expanded prompt as one string (what transformers' processor would tokenise)."""
    return "".join(
        piece.text if isinstance(piece, TextPiece) else piece.token * piece.count
        for piece in pieces
    )


# --- truncation and batching -------------------------------------------------------------------


def truncate_ids(
    ids: Sequence[int],
    special_ids: frozenset[int],
    max_length: int = MAX_LENGTH,
    keep_last: int = KEEP_LAST_TOKENS,
) -> list[int]:
    """The official truncation rule, bounded so the result fits ``max_length`` tokens.

    The last ``keep_last`` tokens stay. Before them, special tokens (chat markers and every
    vision token) all stay, and ordinary text tokens are kept from the start until the budget
    is used: text is removed from the end. The result can still be longer than
    ``max_length`` when special tokens alone exceed it; the caller must check.
    (The official code bounds only the part before the last 5 tokens, so it may feed
    ``max_length + 5``; here the whole prompt fits.)
    """
    if len(ids) <= max_length:
        return list(ids)
    head, tail = list(ids[:-keep_last]), list(ids[-keep_last:])
    special_count = sum(1 for token in head if token in special_ids)
    text_budget = max(0, max_length - keep_last - special_count)
    kept: list[int] = []
    for token in head:
        if token in special_ids:
            kept.append(token)
        elif text_budget > 0:
            kept.append(token)
            text_budget -= 1
    return kept + tail


def plan_batches(
    lengths: Sequence[int], max_batch_tokens: int, max_batch_pairs: int
) -> list[list[int]]:
    """Group pair positions, in order, so each left-padded batch stays within the budgets.

    A batch costs ``len(batch) * max(length in batch)`` tokens (padding included) and holds
    at most ``max_batch_pairs`` pairs. A pair longer than the token budget runs alone.
    """
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for position, length in enumerate(lengths):
        widest = max(longest, length)
        fits = (len(current) + 1) * widest <= max_batch_tokens
        if current and (not fits or len(current) >= max_batch_pairs):
            batches.append(current)
            current, widest = [], length
        current.append(position)
        longest = widest
    if current:
        batches.append(current)
    return batches

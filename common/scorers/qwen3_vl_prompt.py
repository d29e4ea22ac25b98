"""Pure prompt arithmetic for Qwen3-VL-Reranker: messages, vision layout, truncation, batches.

Nothing here touches torch, files or the model. The scorer in :mod:`common.scorers.qwen3_vl`
renders :func:`build_messages` with the model's chat template, expands the vision placeholders
with :func:`expand_prompt` (transformers 4.57's layout, the one the model was trained on),
tokenises the text pieces, applies :func:`truncate_ids` and groups pairs with
:func:`plan_batches`. See ``shared/docs/reranker-facts.md`` for where each rule comes from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: System message of the reranker, verbatim.
SYSTEM_PROMPT = (
    "Judge whether the Document meets the requirements based on the Query and the Instruct "
    'provided. Note that the answer can only be "yes" or "no".'
)
#: Instruction used when the query brings none.
DEFAULT_INSTRUCTION = "Given a search query, retrieve relevant candidates that answer the query."
#: The instruction the official moment-retrieval evaluation used; a good per-query choice.
MOMENT_INSTRUCTION = "Find the clip that corresponds to the described scene in the given video."
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
#: Frames merged in time into one token (frame counts are padded to a multiple of it).
TEMPORAL_PATCH_SIZE = 2
#: Side of the pixel square one language-model token covers (per pair of frames for video).
TOKEN_SIDE = PATCH_SIZE * MERGE_SIZE
#: Pixel bounds of an image (aspect kept, sides multiples of :data:`TOKEN_SIDE`).
IMAGE_MIN_PIXELS = 4 * TOKEN_SIDE * TOKEN_SIDE
IMAGE_MAX_PIXELS = 1800 * TOKEN_SIDE * TOKEN_SIDE
#: Largest frame of a video the official sampler produces, pixels.
VIDEO_FRAME_MAX_PIXELS = 768 * TOKEN_SIDE * TOKEN_SIDE
#: Pixel budget of all frames of one video together, counted per pair of frames.
VIDEO_TOTAL_PIXELS = 7_864_320
#: Most frames one video may bring; longer lists are subsampled uniformly.
VIDEO_MAX_FRAMES = 64
#: Widest aspect ratio the vision tower accepts.
MAX_ASPECT_RATIO = 200

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
    """Resized (height, width) in pixels: sides multiples of ``factor``, area within bounds.

    The aspect ratio is kept as closely as the rounding allows. Raises ``ValueError`` for an
    empty image or an aspect ratio wider than :data:`MAX_ASPECT_RATIO`.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"empty image ({width}x{height} px)")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(f"aspect ratio of {width}x{height} px is wider than {MAX_ASPECT_RATIO}:1")
    new_h = max(factor, round(height / factor) * factor)
    new_w = max(factor, round(width / factor) * factor)
    if new_h * new_w > max_pixels:
        scale = math.sqrt(height * width / max_pixels)
        new_h = max(factor, math.floor(height / scale / factor) * factor)
        new_w = max(factor, math.floor(width / scale / factor) * factor)
    elif new_h * new_w < min_pixels:
        scale = math.sqrt(min_pixels / (height * width))
        new_h = math.ceil(height * scale / factor) * factor
        new_w = math.ceil(width * scale / factor) * factor
    return new_h, new_w


def video_frame_max_pixels(num_frames: int, frame_max_pixels: int, total_pixels: int) -> int:
    """Largest frame area (pixels) for a video of ``num_frames`` frames within both budgets."""
    per_frame = total_pixels * TEMPORAL_PATCH_SIZE // max(1, num_frames)
    return max(TOKEN_SIDE * TOKEN_SIDE, min(frame_max_pixels, per_frame))


def tokens_per_frame_group(height: int, width: int) -> int:
    """Language-model tokens for one image, or one pair of video frames, of this size (px)."""
    return (height // TOKEN_SIDE) * (width // TOKEN_SIDE)


def uniform_subsample(count: int, limit: int) -> list[int]:
    """Positions of at most ``limit`` items spread evenly over ``count``, first and last kept."""
    if count <= limit:
        return list(range(count))
    if limit == 1:
        return [0]
    return [(index * (count - 1)) // (limit - 1) for index in range(limit)]


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

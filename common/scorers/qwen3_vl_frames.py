"""What Qwen3-VL-Reranker is shown: frame sizes, frame counts and the size presets; torch-free.

The numbers are those of the official pipeline: QwenLM/Qwen3-VL-Embedding
``src/models/qwen3_vl_reranker.py`` at 8ce3aab (constants, lines 17-25; a video given as a
frame list carries ``total_pixels``, one given as a file ``fps`` and ``max_frames``, lines
266-293) feeding qwen-vl-utils 0.0.14 ``vision_process.py`` (``smart_resize``,
``smart_nframes``, ``fetch_video``: per-frame bounds at lines 406-407 and 449-455).

**Presets** (``SEGLOCATE_FRAME_PIXELS``, a job setting recorded in the result):

- ``official`` (default): a video frame holds at most 786,432 px (768 tokens per pair of
  frames) and at least 131,072 px (128 tokens); smaller sources are enlarged, as the official
  code does. A 1080p frame becomes 640x1152 px: 720 tokens per pair of frames.
- ``fast``: at most 448x448 = 200,704 px (a 1080p frame becomes 320x576: 180 tokens per pair,
  a quarter of the tokens); same minimum. Small slide text the model could read at
  ``official`` may be lost.
- a number ``N``: at most ``N`` px per frame (4,096 to 786,432), at least ``min(N, 131072)``.

Query images keep the official image bounds (4 to 1,800 tokens) whatever the preset.

**Frames per window.** A window's frames are all kept (a 5 s window at 1 fps has five) and
padded to an even count by repeating the last frame (six frames, three temporal pairs), as
the official frame-list path does; a window with fewer than four frames is spread over four
(each frame repeated in order), the official minimum. Timestamps are the frames' real times.
**Query clips** are sampled as the official file path does: 1 fps, 4 to 64 frames spread
evenly over the source's own frames (``torch.linspace(...).round()``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from common.errors import InvalidInputError
from common.resize import smart_resize
from common.scorers.base import FrameRequirements

#: Pixels per language-model token side: 16 px patches merged 2x2.
TOKEN_SIDE = 32
#: Frames merged in time into one token (frame counts are made even).
TEMPORAL_PATCH_SIZE = 2
#: Smallest video frame, pixels (qwen-vl-utils ``VIDEO_MIN_TOKEN_NUM`` = 128 tokens).
VIDEO_FRAME_MIN_PIXELS = 128 * TOKEN_SIDE * TOKEN_SIDE
#: Largest video frame, pixels (``VIDEO_MAX_TOKEN_NUM`` = 768 tokens per pair of frames).
VIDEO_FRAME_MAX_PIXELS = 768 * TOKEN_SIDE * TOKEN_SIDE
#: The ``fast`` preset's cap, pixels (448x448: 196 tokens per pair of square frames).
FAST_FRAME_MAX_PIXELS = 448 * 448
#: Smallest per-frame cap a number preset may set, pixels (4 tokens).
MIN_FRAME_PIXELS_SETTING = 4 * TOKEN_SIDE * TOKEN_SIDE
#: Query image bounds of the official reranker (``MIN_PIXELS``/``MAX_PIXELS``: 4 to 1,800 tokens).
IMAGE_MIN_PIXELS = 4 * TOKEN_SIDE * TOKEN_SIDE
IMAGE_MAX_PIXELS = 1800 * TOKEN_SIDE * TOKEN_SIDE
#: Pixel budget of a video given as a frame list (a window), all frames together
#: (the reranker's ``MAX_TOTAL_PIXELS``, counted per pair of frames).
WINDOW_TOTAL_PIXELS = 10 * VIDEO_FRAME_MAX_PIXELS
#: Pixel budget of a video given as a file (a query clip): qwen-vl-utils' default, since the
#: reranker passes none there (``MODEL_SEQ_LEN`` 128,000 tokens x 0.9).
CLIP_TOTAL_PIXELS = int(128_000 * TOKEN_SIDE * TOKEN_SIDE * 0.9)
#: The per-frame cap never drops below this multiple of the minimum (qwen-vl-utils line 451).
MIN_PIXELS_HEADROOM = 1.05
#: Frames per second of a query clip.
CLIP_FPS = 1.0
#: Fewest and most frames of a query clip.
CLIP_MIN_FRAMES = 4
CLIP_MAX_FRAMES = 64
#: Most frames of a window; longer frame lists are thinned evenly (the reranker's ``MAX_FRAMES``).
WINDOW_MAX_FRAMES = 64
#: Fewest frames a window is shown with.
WINDOW_MIN_FRAMES = 4
#: JPEG quality of stored model frames: 4:4:4 chroma at 95 keeps coloured slide text intact
#: (mean error under 1 on 0-255 against the unstored frame: 0.7 on a 1080p lecture).
MODEL_JPEG_QUALITY = 95

#: Named presets and their per-frame caps, pixels.
PRESETS = {"official": VIDEO_FRAME_MAX_PIXELS, "fast": FAST_FRAME_MAX_PIXELS}
#: The preset used when none is chosen.
DEFAULT_PRESET = "official"


def parse_frame_pixels(value: str | int | None) -> str:
    """The canonical preset for ``value`` (``official``, ``fast`` or a pixel count as digits).

    ``None`` or an empty string mean :data:`DEFAULT_PRESET`. Raises :class:`InvalidInputError`
    naming the setting for anything else, or a number outside
    [:data:`MIN_FRAME_PIXELS_SETTING`, :data:`VIDEO_FRAME_MAX_PIXELS`] (larger frames than the
    official cap are never fed to the model: qwen-vl-utils clamps them too).
    """
    text = str(value).strip().lower() if value is not None else ""
    if not text:
        return DEFAULT_PRESET
    if text in PRESETS:
        return text
    if text.isdigit():
        pixels = int(text)
        if MIN_FRAME_PIXELS_SETTING <= pixels <= VIDEO_FRAME_MAX_PIXELS:
            return str(pixels)
        raise InvalidInputError(
            f"frame pixels {value!r}",
            f"must be between {MIN_FRAME_PIXELS_SETTING} and {VIDEO_FRAME_MAX_PIXELS} "
            "(the official cap of 768 tokens per pair of frames)",
        )
    raise InvalidInputError(
        f"frame pixels {value!r}", "choose official, fast, or a pixel count such as 401408"
    )


def frame_pixel_bounds(preset: str | None) -> tuple[int, int]:
    """``(min_pixels, max_pixels)`` of one video frame under ``preset``."""
    canonical = parse_frame_pixels(preset)
    cap = PRESETS.get(canonical) or int(canonical)
    return min(VIDEO_FRAME_MIN_PIXELS, cap), cap


def frame_requirements(preset: str | None = DEFAULT_PRESET) -> FrameRequirements:
    """How the producer samples frames for the reranker under ``preset``: the official sizes,
    rounding and resampler, stored as 4:4:4 JPEG so the model sees what the official
    preprocessing would give it (up to JPEG storage)."""
    min_pixels, max_pixels = frame_pixel_bounds(preset)
    return FrameRequirements(
        max_pixels=max_pixels,
        size_multiple=TOKEN_SIDE,
        min_pixels=min_pixels,
        rounding="qwen",
        resample="bicubic",
        jpeg_quality=MODEL_JPEG_QUALITY,
        jpeg_subsampling="4:4:4",
    )


def video_frame_budget(num_frames: int, min_pixels: int, max_pixels: int, total_pixels: int) -> int:
    """Largest frame area (pixels) of a video of ``num_frames`` frames, the official rule:
    the per-frame cap, lowered so all frames fit ``total_pixels`` (counted per pair of
    frames), but never below 1.05 x ``min_pixels``."""
    shared = total_pixels / max(1, num_frames) * TEMPORAL_PATCH_SIZE
    return int(max(min(max_pixels, shared), int(min_pixels * MIN_PIXELS_HEADROOM)))


def video_frame_size(
    height: int, width: int, num_frames: int, preset: str | None, total_pixels: int
) -> tuple[int, int]:
    """Resized ``(height, width)`` of the frames of a video of ``num_frames`` frames of
    ``height`` x ``width`` px under ``preset`` (as qwen-vl-utils' ``fetch_video``)."""
    min_pixels, max_pixels = frame_pixel_bounds(preset)
    budget = video_frame_budget(num_frames, min_pixels, max_pixels, total_pixels)
    return smart_resize(
        height,
        width,
        factor=TOKEN_SIDE,
        min_pixels=min_pixels,
        max_pixels=min(max_pixels, budget),
    )


def sampled_frame_size(height: int, width: int, preset: str | None) -> tuple[int, int]:
    """``(height, width)`` the producer stores a frame of ``height`` x ``width`` px at."""
    min_pixels, max_pixels = frame_pixel_bounds(preset)
    return smart_resize(
        height, width, factor=TOKEN_SIDE, min_pixels=min_pixels, max_pixels=max_pixels
    )


def tokens_per_frame_pair(height: int, width: int) -> int:
    """Language-model tokens of one pair of video frames (or one image) of this size, px."""
    return (height // TOKEN_SIDE) * (width // TOKEN_SIDE)


def clip_frame_count(total_frames: int, source_fps: float) -> int:
    """Frames the official file path samples from a clip of ``total_frames`` frames at
    ``source_fps`` (``smart_nframes`` with fps 1, 4 to 64 frames, an even count).

    Raises ``ValueError`` for a clip of fewer than two frames.
    """
    if total_frames < TEMPORAL_PATCH_SIZE or source_fps <= 0:
        raise ValueError(f"a clip needs at least 2 frames, got {total_frames}")
    wanted = total_frames / source_fps * CLIP_FPS
    count = min(max(wanted, CLIP_MIN_FRAMES), CLIP_MAX_FRAMES, total_frames)
    return int(count // TEMPORAL_PATCH_SIZE * TEMPORAL_PATCH_SIZE)


def clip_frame_indices(total_frames: int, source_fps: float) -> list[int]:
    """Source frame numbers the official file path picks: ``clip_frame_count`` frames spread
    evenly from the first to the last, as ``torch.linspace(0, total - 1, n).round()``
    computes them (float32, halves rounded to even)."""
    count = clip_frame_count(total_frames, source_fps)
    start, end = np.float32(0.0), np.float32(total_frames - 1)
    step = (end - start) / np.float32(count - 1)
    half = count // 2
    indices = []
    for i in range(count):
        # torch fills the first half from the start and the second half back from the end.
        value = start + step * np.float32(i) if i < half else end - step * np.float32(count - 1 - i)
        indices.append(int(np.rint(np.float32(value))))
    return indices


def thin_frames(count: int, limit: int = WINDOW_MAX_FRAMES) -> list[int]:
    """Positions of at most ``limit`` of ``count`` frames, spread evenly with both ends kept
    (the reranker's ``sample_frames``: ``np.linspace(0, count - 1, limit, dtype=int)``)."""
    if count <= limit:
        return list(range(count))
    return [int(i) for i in np.linspace(0, count - 1, limit, dtype=int)]


def window_frame_positions(count: int) -> list[int]:
    """Positions (into a window's ``count`` frames) of the frames the model is shown.

    At least :data:`WINDOW_MIN_FRAMES`, an even number: five frames become six (the last
    repeated); one, two or three are spread over four in order (``[a, a, b, b]`` for two).
    """
    if count <= 0:
        return []
    if count < WINDOW_MIN_FRAMES:
        return [i * count // WINDOW_MIN_FRAMES for i in range(WINDOW_MIN_FRAMES)]
    positions = thin_frames(count)
    while len(positions) % TEMPORAL_PATCH_SIZE:
        positions.append(positions[-1])
    return positions


def pair_timestamps(times: Sequence[float]) -> list[float]:
    """Seconds shown before each pair of frames: the mean of the pair's first and last frame
    times (``times`` already even in length; transformers' ``_calculate_timestamps``)."""
    if len(times) % TEMPORAL_PATCH_SIZE:
        raise ValueError(f"an even number of frame times is needed, got {len(times)}")
    step = TEMPORAL_PATCH_SIZE
    return [(times[i] + times[i + step - 1]) / 2 for i in range(0, len(times), step)]

"""Pixels for Qwen3-VL-Reranker: checking, sizing, resizing and patchifying images and videos.

Sizes are decided before any pixel is processed (:func:`fit_size`, :class:`VideoPlan`), so a
pair's token count is known up front; :func:`encode_image` and :func:`encode_videos` then
resize to exactly those sizes and let the model's processor patchify, and check that its grids
match what the prompt was laid out for.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image

from common.errors import InvalidInputError
from common.resize import flatten_alpha, resize_bicubic
from common.scorers.base import SampledFrame
from common.scorers.qwen3_vl_frames import video_frame_size
from common.scorers.qwen3_vl_prompt import (
    PATCH_SIZE,
    TEMPORAL_PATCH_SIZE,
    VideoLayout,
    group_timestamps,
    patch_aligned_size,
    tokens_per_frame_group,
)


class VisionModel(Protocol):
    """What encoding needs of a loaded model (the reranker's or the embedder's): its processor
    and the device inputs go to."""

    processor: Any
    device: torch.device


@dataclass
class VideoPlan:
    """One video (query clip or window) ready to be resized and encoded."""

    frames: list[Image.Image]  #: RGB, an even count (repeated frames included)
    indices: list[int]  #: frame index from the clip's first frame, per frame
    fps: float  #: frames per second of ``indices``: ``index / fps`` is a frame's real time
    height: int  #: resized height, pixels
    width: int  #: resized width, pixels

    @property
    def layout(self) -> VideoLayout:
        return VideoLayout(
            timestamps=tuple(group_timestamps(self.indices, self.fps)),
            tokens_per_group=tokens_per_frame_group(self.height, self.width),
        )


@dataclass
class EncodedMedia:
    """Pixels and grid (t, h, w in patches) of one image or video for the vision tower."""

    pixels: torch.Tensor
    grid: torch.Tensor


def checked_rgb(image: object, subject: str, error: type[InvalidInputError]) -> Image.Image:
    """``image`` as RGB (transparency composited on white, as the official loader does), or
    ``error`` naming ``subject`` when it is not a readable image."""
    if not isinstance(image, Image.Image):
        raise error(subject, f"not an image (got {type(image).__name__})")
    try:
        image.load()
        width, height = image.size
        if width <= 0 or height <= 0:
            raise error(subject, f"empty image ({width}x{height} px)")
        return flatten_alpha(image)
    except (OSError, ValueError, SyntaxError) as exc:
        raise error(subject, f"unreadable image ({exc})") from exc


def fit_size(
    image: Image.Image,
    min_pixels: int,
    max_pixels: int,
    subject: str,
    error: type[InvalidInputError],
) -> tuple[int, int]:
    """Patch-aligned (height, width) of ``image`` within the pixel bounds, else ``error``."""
    try:
        return patch_aligned_size(
            image.height, image.width, min_pixels=min_pixels, max_pixels=max_pixels
        )
    except ValueError as exc:
        raise error(subject, str(exc)) from exc


def plan_video(
    frames: Sequence[SampledFrame],
    positions: Sequence[int],
    fps: float,
    preset: str,
    total_pixels: int,
    subject: str,
    error: type[InvalidInputError],
) -> VideoPlan:
    """Frames at ``positions``, their real times, and the size the official rule gives a
    video of that many frames of this size under ``preset`` (``error`` naming ``subject`` for
    frames out of order, unreadable or of an impossible shape)."""
    first = frames[0].index
    indices = [frame.index - first for frame in frames]
    if any(later <= earlier for earlier, later in itertools.pairwise(indices)):
        raise error(subject, "frames are not in increasing order of their index")
    images = [
        checked_rgb(frame.image, f"{subject}, frame {frame.index}", error) for frame in frames
    ]
    source = images[0]
    try:
        height, width = video_frame_size(
            source.height, source.width, len(positions), preset, total_pixels
        )
    except ValueError as exc:
        raise error(subject, str(exc)) from exc
    return VideoPlan(
        frames=[images[p] for p in positions],
        indices=[indices[p] for p in positions],
        fps=fps,
        height=height,
        width=width,
    )


def digest_image(digest: Any, image: Image.Image) -> None:
    """Feed ``image``'s size, mode and pixels to the hashlib ``digest``."""
    digest.update(repr((image.size, image.mode)).encode())
    digest.update(image.tobytes())


def encode_image(loaded: VisionModel, image: Image.Image, size: tuple[int, int]) -> EncodedMedia:
    """Resize ``image`` to ``size`` (height, width) as ``fetch_image`` does (Pillow's 8-bit
    bicubic) and patchify it."""
    array = image_array(image, *size)
    out = loaded.processor.image_processor(images=[array], do_resize=False, return_tensors="pt")
    encoded = EncodedMedia(pixels=out["pixel_values"], grid=out["image_grid_thw"])
    _check_grid(encoded.grid, [(1, size[0] // PATCH_SIZE, size[1] // PATCH_SIZE)])
    return encoded


def encode_videos(loaded: VisionModel, plans: Sequence[VideoPlan]) -> list[EncodedMedia]:
    """Resize and patchify videos in one processor call; timestamps come from their metadata."""
    tensors = [torch.from_numpy(video_array(plan)).permute(0, 3, 1, 2) for plan in plans]
    metadata = [
        {
            "total_num_frames": len(plan.frames),
            "fps": plan.fps,
            "frames_indices": plan.indices,
            "width": plan.width,
            "height": plan.height,
        }
        for plan in plans
    ]
    out = loaded.processor.video_processor(
        videos=tensors,
        video_metadata=metadata,
        do_sample_frames=False,
        do_resize=False,
        return_tensors="pt",
        **_processing_device(loaded),
    )
    grids = out["video_grid_thw"]
    _check_grid(
        grids,
        [
            (len(p.frames) // TEMPORAL_PATCH_SIZE, p.height // PATCH_SIZE, p.width // PATCH_SIZE)
            for p in plans
        ],
    )
    sizes = [int(row.prod()) for row in grids]
    pixels = torch.split(out["pixel_values_videos"], sizes)
    return [EncodedMedia(pixels=chunk, grid=grids[i : i + 1]) for i, chunk in enumerate(pixels)]


def image_array(image: Image.Image, height: int, width: int) -> np.ndarray:
    """A query image as ``fetch_image`` hands it on: Pillow's bicubic resize, uint8 HxWx3."""
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BICUBIC)
    return np.array(image, dtype=np.uint8)


def video_array(plan: VideoPlan) -> np.ndarray:
    """A video's frames as ``fetch_video`` hands them on (frames already at the planned size,
    as the producer stores them, pass untouched), uint8 TxHxWx3."""
    frames = [resize_bicubic(frame, plan.width, plan.height) for frame in plan.frames]
    return np.stack([np.asarray(frame, dtype=np.uint8) for frame in frames])


def _processing_device(loaded: VisionModel) -> dict[str, str]:
    """Normalise and patchify on the GPU when there is one: uint8 frames travel, not floats."""
    return {"device": str(loaded.device)} if loaded.device.type == "cuda" else {}


def _check_grid(grid: torch.Tensor, expected: Sequence[tuple[int, int, int]]) -> None:
    got = [tuple(int(v) for v in row) for row in grid]
    if got != list(expected):
        raise RuntimeError(f"vision processor produced grids {got}, expected {list(expected)}")

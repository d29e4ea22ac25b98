"""Frame geometry and resampling for vision models: torch-free, shared by samplers and scorers.

- :func:`smart_resize` is the sizing rule of Qwen's vision preprocessing (qwen-vl-utils
  0.0.14 ``smart_resize``): sides *rounded* to multiples of ``factor``, then the area fitted
  into ``[min_pixels, max_pixels]`` keeping the aspect ratio; small images are enlarged.
- :func:`resize_bicubic` is the resampler that preprocessing uses for video frames
  (torchvision ``resize(..., BICUBIC, antialias=True)`` on uint8 frames): an antialiased
  bicubic (a = -0.5) computed in floating point and rounded once at the end. It runs per
  channel in Pillow's float mode, which agrees with torchvision to within 1 on 0-255 (exact
  but for rounding ties) and needs no torch.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

#: Widest aspect ratio Qwen's vision preprocessing accepts.
MAX_ASPECT_RATIO = 200


def smart_resize(
    height: int, width: int, *, factor: int, min_pixels: int, max_pixels: int
) -> tuple[int, int]:
    """Resized ``(height, width)``, pixels: sides multiples of ``factor``, area within bounds.

    Sides are first rounded to the nearest multiple (Python's ``round``, ties to even, as
    qwen-vl-utils does); an area above ``max_pixels`` is then scaled down with sides floored,
    an area below ``min_pixels`` scaled up with sides ceiled. Raises ``ValueError`` for an
    empty frame, an aspect ratio wider than :data:`MAX_ASPECT_RATIO`, or crossed bounds.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"empty image ({width}x{height} px)")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(f"aspect ratio of {width}x{height} px is wider than {MAX_ASPECT_RATIO}:1")
    if max_pixels < min_pixels:
        raise ValueError(f"pixel bounds crossed: min {min_pixels} > max {max_pixels}")
    new_h = max(factor, round(height / factor) * factor)
    new_w = max(factor, round(width / factor) * factor)
    if new_h * new_w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        new_h = max(factor, math.floor(height / beta / factor) * factor)
        new_w = max(factor, math.floor(width / beta / factor) * factor)
    elif new_h * new_w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        new_h = math.ceil(height * beta / factor) * factor
        new_w = math.ceil(width * beta / factor) * factor
    return new_h, new_w


def resize_bicubic(image: Image.Image, width: int, height: int) -> Image.Image:
    """``image`` (RGB) resized to ``width`` x ``height`` px with the antialiased float bicubic.

    Returns ``image`` itself when it already has that size (no resampling at all).
    """
    if image.size == (width, height):
        return image
    bands = [
        np.asarray(band.convert("F").resize((width, height), Image.Resampling.BICUBIC))
        for band in image.convert("RGB").split()
    ]
    pixels = np.clip(np.rint(np.stack(bands, axis=-1)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def flatten_alpha(
    image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)
) -> Image.Image:
    """``image`` as RGB, transparent parts composited on ``background`` (white by default).

    Qwen's image loader composites RGBA images on white; this does the same for every mode
    that carries transparency (RGBA, LA, PA, and palette or greyscale images with a
    transparent colour), where ``convert("RGB")`` would show whatever colour hides under it.
    """
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if not has_alpha:
        return image if image.mode == "RGB" else image.convert("RGB")
    rgba = image.convert("RGBA")
    flat = Image.new("RGB", rgba.size, background)
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat

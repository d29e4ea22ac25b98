"""Checks of query media shared by the client (before upload) and the workers (after download)."""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from common.errors import QueryError, VideoError
from common.resize import flatten_alpha
from common.schemas import VideoProbe
from common.scorers.specs import ScorerSpec
from common.video import probe_video

#: Most pixels a query image may have. No scorer reads more than about 1.8 MP of it (Qwen3-VL:
#: 1800 * 32 * 32 pixels; larger images are scaled down to that), so the cap only has to admit
#: real photos (up to 64 MP, e.g. 8192x8192) while bounding the decode: at most 192 MB as RGB.
#: Pillow's own guard stops only at twice its 89 MP default, after a warning.
QUERY_IMAGE_MAX_PIXELS = 8192 * 8192
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


def _too_large(subject: str, pixels: int | None) -> QueryError:
    size = f"{pixels:,} pixels" if pixels is not None else "too many pixels"
    return QueryError(
        subject,
        f"too large to decode ({size}); a query image may have at most "
        f"{QUERY_IMAGE_MAX_PIXELS:,} pixels (8192x8192): scale it down",
    )


def decode_query_image(data: bytes, subject: str) -> Image.Image:
    """The image in ``data`` as RGB (transparency on white), or a :class:`QueryError` naming
    ``subject`` and the reason.

    The size is checked from the header, before any pixel is decoded (decompression bombs).
    """
    if not data:
        raise QueryError(subject, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        found = _BOMB_PIXELS.search(str(exc))
        raise _too_large(subject, int(found.group(1)) if found else None) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise QueryError(subject, f"not a readable image ({exc})") from None
    if image.width * image.height > QUERY_IMAGE_MAX_PIXELS:
        raise _too_large(subject, image.width * image.height)
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise QueryError(subject, f"not a readable image ({exc})") from None
    if image.width < 1 or image.height < 1:
        raise QueryError(subject, "image has no pixels")
    # Transparent parts on white, as the official Qwen3-VL loader shows them.
    return flatten_alpha(image)


def check_query_length(text: str | None, instruction: str | None, max_chars: int) -> None:
    """Raise a :class:`QueryError` if the query text or the instruction (stripped) is longer
    than ``max_chars`` characters (``SEGLOCATE_MAX_QUERY_CHARS``)."""
    for subject, value in (("query", text), ("instruction", instruction)):
        length = len((value or "").strip())
        if length > max_chars:
            raise QueryError(
                subject, f"{length:,} characters; at most {max_chars:,} (SEGLOCATE_MAX_QUERY_CHARS)"
            )


def check_query_clip(probe: VideoProbe, subject: str, spec: ScorerSpec) -> None:
    """Raise a :class:`QueryError` if a probed query clip is longer than ``spec`` accepts."""
    limit = spec.max_query_clip_s
    if probe.duration > limit:
        raise QueryError(subject, f"{probe.duration:.1f}s long; query clips are at most {limit:g}s")


def probe_query_clip(path: Path, subject: str, spec: ScorerSpec) -> VideoProbe:
    """Probe a local query clip; video errors become query errors naming ``subject``."""
    try:
        probe = probe_video(path, subject)
    except VideoError as exc:
        raise QueryError(subject, exc.reason) from None
    check_query_clip(probe, subject, spec)
    return probe

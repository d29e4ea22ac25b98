"""Checks of query media shared by the client (before upload) and the workers (after download)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from common.errors import QueryError, VideoError
from common.resize import flatten_alpha
from common.schemas import VideoProbe
from common.scorers.specs import ScorerSpec
from common.video import probe_video


def decode_query_image(data: bytes, subject: str) -> Image.Image:
    """The image in ``data`` as RGB (transparency on white), or a :class:`QueryError` naming
    ``subject`` and the reason."""
    if not data:
        raise QueryError(subject, "empty file (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise QueryError(subject, f"not a readable image ({exc})") from None
    if image.width < 1 or image.height < 1:
        raise QueryError(subject, "image has no pixels")
    # Transparent parts on white, as the official Qwen3-VL loader shows them.
    return flatten_alpha(image)


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

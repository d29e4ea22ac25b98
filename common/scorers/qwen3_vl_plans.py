"""Planned inputs, shared by Qwen3-VL-Reranker and Qwen3-VL-Embedding: what an input (a query,
or the embedder's window) holds before its pixels are encoded, and the checks and sizing of a
window's frames, a query clip and a query's text.

Both models read media the same way (the official embedder and reranker share their
constants), so a plan made here is the same for either; only the prompt around it differs.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from common.errors import QueryError, VideoError
from common.scorers.base import LoadedQuery, WindowInput
from common.scorers.qwen3_vl_frames import (
    CLIP_TOTAL_PIXELS,
    WINDOW_TOTAL_PIXELS,
    thin_frames,
    window_frame_positions,
)
from common.scorers.qwen3_vl_pixels import VideoPlan, plan_video
from common.scorers.qwen3_vl_prompt import (
    Side,
    pad_to_even,
    reserved_marker_in,
    tokens_per_frame_group,
)


@dataclass(kw_only=True)
class MediaPlan:
    """One input's texts and media, before its pixels are encoded."""

    texts: tuple[str, ...] = ()
    image: Image.Image | None = None
    image_size: tuple[int, int] = (0, 0)  #: resized (height, width), pixels
    video: VideoPlan | None = None

    @property
    def side(self) -> Side:
        return Side(
            videos=int(self.video is not None), images=int(self.image is not None), texts=self.texts
        )

    @property
    def image_tokens(self) -> list[int]:
        return [tokens_per_frame_group(*self.image_size)] if self.image is not None else []

    @property
    def vision_tokens(self) -> int:
        video = self.video.layout.vision_tokens if self.video is not None else 0
        return sum(self.image_tokens) + video


def plan_window_video(window: WindowInput, preset: str, needs: str) -> VideoPlan:
    """A window's frames as one video (padded to an even count of at least four, real times),
    sized by ``preset``; :class:`VideoError` without frames (``needs`` says why they are
    needed) or with a sampling rate that is not positive."""
    subject = f"window {window.start:.2f}-{window.end:.2f} s"
    if not window.frames:
        raise VideoError(subject, f"no frames ({needs})")
    if window.fps <= 0:
        raise VideoError(subject, f"sampling rate must be positive, got {window.fps} fps")
    positions = window_frame_positions(len(window.frames))
    return plan_video(
        window.frames, positions, window.fps, preset, WINDOW_TOTAL_PIXELS, subject, VideoError
    )


def plan_query_video(query: LoadedQuery, preset: str, max_seconds: float) -> VideoPlan:
    """A query clip of at most ``max_seconds`` as one video, else :class:`QueryError`.

    A clip is a video file to the official code: its frames (already picked as its sampler
    picks them) are thinned to 64 and made even, within the file path's budget.
    """
    frames, fps = query.video_frames, query.video_fps
    if fps <= 0:
        raise QueryError("query video", f"sampling rate must be positive, got {fps} fps")
    duration = (frames[-1].index - frames[0].index + 1) / fps
    if duration > max_seconds + 1e-6:
        raise QueryError(
            "query video",
            f"{duration:.1f} s long; query clips may be at most {max_seconds:.0f} s",
        )
    positions = pad_to_even(thin_frames(len(frames)))
    return plan_video(frames, positions, fps, preset, CLIP_TOTAL_PIXELS, "query video", QueryError)


def check_query_markers(instruction: str, text: str) -> None:
    """:class:`QueryError` when the query's instruction or text holds a reserved marker."""
    for subject, value in (("query instruction", instruction), ("query text", text)):
        marker = reserved_marker_in(value)
        if marker:
            raise QueryError(subject, f"contains the reserved marker {marker}")

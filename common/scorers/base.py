"""The ``Scorer`` seam: what every scorer declares and does.

A scorer states the frames it needs (:class:`FrameRequirements`), which query kinds it accepts,
an optional query-independent step per video (:meth:`Scorer.extract_features`, cached by the
pipeline under ``features_id``), and a per-query step that scores a batch of windows (0-100).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from PIL import Image

from common.schemas import ScorerInfo

if TYPE_CHECKING:
    from common.speech.transcript import Transcript


@dataclass(frozen=True)
class FrameRequirements:
    """How frames must be sampled for a scorer; part of the frame-cache key."""

    #: Upper bound on width*height of a sampled frame, in pixels (aspect kept).
    max_pixels: int
    #: Sides of sampled frames are multiples of this many pixels (32 for Qwen3-VL patches).
    size_multiple: int = 2
    #: Smallest width*height; smaller sources are enlarged to it (0: never enlarge, as OCR wants).
    min_pixels: int = 0
    #: How sides are fitted: ``"floor"`` (largest size within the budget, sides floored, never
    #: enlarged) or ``"qwen"`` (:func:`common.resize.smart_resize`: sides rounded, area fitted
    #: into ``[min_pixels, max_pixels]``).
    rounding: str = "floor"
    #: ``"area"`` (ffmpeg scales and encodes in one process) or ``"bicubic"`` (the antialiased
    #: float bicubic of :func:`common.resize.resize_bicubic`, as Qwen's preprocessing resizes).
    resample: str = "area"
    #: JPEG quality (1-95) of stored frames.
    jpeg_quality: int = 90
    #: JPEG chroma subsampling of stored frames: ``"4:2:0"`` or ``"4:4:4"`` (no colour loss).
    jpeg_subsampling: str = "4:2:0"


@dataclass
class SampledFrame:
    """One decoded frame at a sampling instant."""

    index: int  #: position in the video's sampled-frame sequence (0-based)
    time: float  #: presentation time, seconds from the start of the video
    image: Image.Image  #: RGB, upright (rotation applied)


@dataclass
class WindowInput:
    """One window to score: its span, its frames' indices, and the frames when needed."""

    start: float  #: seconds
    end: float  #: seconds
    frame_indices: list[int]
    #: Loaded only for scorers with ``needs_window_pixels``.
    frames: list[SampledFrame] = field(default_factory=list)
    #: Sampling rate of ``frames``, frames per second.
    fps: float = 1.0
    #: The window's text: what is read on screen and what is spoken in it (the document's text
    #: part for scorers and embedders that read text; empty when there is none).
    text: str = ""


@dataclass
class LoadedQuery:
    """A query with its media decoded (image as RGB, clip as sampled frames)."""

    text: str | None = None
    instruction: str | None = None
    image: Image.Image | None = None
    video_frames: list[SampledFrame] = field(default_factory=list)
    video_fps: float = 1.0
    #: The job's frame-size preset (``official``, ``fast`` or a pixel count) for scorers whose
    #: frame sizes depend on it; ``None``: the scorer's default.
    frame_pixels: str | None = None

    def kinds(self) -> frozenset[str]:
        present = {"text": self.text, "image": self.image, "video": self.video_frames}
        return frozenset(name for name, value in present.items() if value)


@dataclass(frozen=True)
class WindowMatch:
    """One window's score and, where the scorer can tell, which signal matched."""

    score: float  #: 0-100
    #: ``ocr``, ``speech`` or ``both`` (the text scorer); None when nothing matched or the
    #: scorer cannot tell.
    signal: str | None = None


def matches_of(scores: Sequence[float]) -> list[WindowMatch]:
    """Scores of a scorer that cannot tell which signal matched."""
    return [WindowMatch(score=score) for score in scores]


@runtime_checkable
class Scorer(Protocol):
    """Scores (query, window) pairs, 0-100. Loaded once per process and kept."""

    #: Name, model id and revision recorded in results.
    info: ScorerInfo
    frame_requirements: FrameRequirements
    #: Query kinds accepted, a subset of {"text", "image", "video"}.
    query_kinds: frozenset[str]
    #: True if :meth:`score_windows` needs the windows' frames (else features suffice).
    needs_window_pixels: bool
    #: Non-None if the scorer has a cached, query-independent per-video step.
    features_id: str | None

    def check_query(self, query: LoadedQuery) -> None:
        """Raise :class:`common.errors.QueryError` if this scorer cannot score ``query``."""
        ...

    def extract_features(self, frames: Iterable[SampledFrame]) -> dict[str, Any]:
        """Query-independent, JSON-serialisable features of a whole video's sampled frames."""
        ...

    def score_windows(
        self,
        query: LoadedQuery,
        windows: Sequence[WindowInput],
        features: dict[str, Any] | None,
    ) -> list[float]:
        """One score in [0, 100] per window, in order."""
        ...

    def match_windows(
        self,
        query: LoadedQuery,
        windows: Sequence[WindowInput],
        features: dict[str, Any] | None,
        transcript: Transcript | None,
    ) -> Sequence[WindowMatch]:
        """Per window, its score and which signal matched, reading the video's ``transcript``
        too where the scorer uses it (the pipeline calls this; ``score_windows`` is the plain
        form). Windows' ``text`` already holds the words spoken in them."""
        ...

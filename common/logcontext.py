"""Structured logs: every line of work carries the job id and the video it concerns."""

from __future__ import annotations

import contextvars
import json
import logging
import re
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


_SAFE_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
#: Celery's "Task ... received" line carries the message's kwargs as a repr in its args.
_KWARGS_JOB = re.compile(r"'job_id': '([^']{1,200})'")
_KWARGS_VIDEO = re.compile(r"'video_index': (\d{1,9})\b")


def safe_log_ids(job_id: object, video: object = None) -> tuple[str, str]:
    """(job id, video) fit for a log line: an id that is not a valid job id (a crafted
    message) is shown as ``invalid``, never printed as given."""
    job = job_id if isinstance(job_id, str) and _SAFE_JOB_ID.match(job_id) else "invalid"
    if job_id is None:
        job = "-"
    shown = "-" if video is None else (str(video) if isinstance(video, int) else "invalid")
    return job, shown


class ContextFilter(logging.Filter):
    """Adds ``job_id`` and ``video`` attributes to each record; on Celery's "Task received"
    lines (logged before any task code runs) they come from the message's kwargs."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.job_id = job_id = _job_id.get()
        record.video = _video.get()
        if job_id == "-" and isinstance(record.args, dict):
            kwargs = record.args.get("kwargs")
            if isinstance(kwargs, str):
                job = _KWARGS_JOB.search(kwargs)
                video = _KWARGS_VIDEO.search(kwargs)
                if job:
                    record.job_id, record.video = safe_log_ids(
                        job.group(1), int(video.group(1)) if video else None
                    )
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

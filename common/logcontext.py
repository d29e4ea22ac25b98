"""Structured logs: every line of work carries the job id and the video it concerns.

Both come from task payloads and specs that a hostile client may craft: a job id enters the
context only once :func:`common.keys.check_job_id` accepts it (else it is marked ``invalid:``
and escaped), and every text line has its control characters escaped (one record, one line).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

from common.errors import UnsafeKeyError
from common.keys import check_job_id
from common.printable import UNSAFE_CHARACTERS, printable

_job_id: contextvars.ContextVar[str] = contextvars.ContextVar("seglocate_job_id", default="-")
_video: contextvars.ContextVar[str] = contextvars.ContextVar("seglocate_video", default="-")

TEXT_FORMAT = "%(asctime)s %(levelname)s job=%(job_id)s video=%(video)s %(name)s: %(message)s"
#: Characters of an invalid id or a video name kept in a log line.
MAX_LOGGED_ID = 80


def loggable_job_id(job_id: object) -> str:
    """``job_id`` if it is a valid job id, ``-`` if absent, else ``invalid:`` and its escaped,
    shortened text (a crafted payload's id is shown, never trusted)."""
    if job_id is None or job_id == "":
        return "-"
    if isinstance(job_id, str):
        try:
            return check_job_id(job_id)
        except UnsafeKeyError:
            pass
    return "invalid:" + printable(job_id)[:MAX_LOGGED_ID]


def loggable_video(video: object) -> str:
    """A video index or name as one escaped, shortened token (``-`` if absent)."""
    return "-" if video is None else printable(video)[:MAX_LOGGED_ID]


@contextmanager
def work_context(job_id: object, video: object = None) -> Iterator[None]:
    """Attach ``job_id`` (validated) and ``video`` (escaped) to every log record emitted inside
    the block. Either may come straight from a task payload: any JSON value is accepted."""
    job_token = _job_id.set(loggable_job_id(job_id))
    video_token = _video.set(loggable_video(video))
    try:
        yield
    finally:
        _job_id.reset(job_token)
        _video.reset(video_token)


def set_video(video: str) -> None:
    """Name the video of the current block once it is known (e.g. after reading the spec)."""
    _video.set(loggable_video(video))


class TextFormatter(logging.Formatter):
    """:data:`TEXT_FORMAT` (or ``fmt``) with control characters of the message escaped, so a
    user-controlled name cannot forge a log line; tracebacks keep their lines."""

    def __init__(self, fmt: str = TEXT_FORMAT) -> None:
        super().__init__(fmt)

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = record.message
        record.message = printable(message)
        try:
            return super().formatMessage(record)
        finally:
            record.message = message


#: Celery's "Task ... received" line carries the message's kwargs as a repr in its args.
_KWARGS_JOB = re.compile(r"'job_id': '([^']{1,200})'")
_KWARGS_VIDEO = re.compile(r"'video_index': (\d{1,9})\b")


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
                    record.job_id = loggable_job_id(job.group(1))
                    record.video = loggable_video(int(video.group(1)) if video else None)
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
        # json escapes C0 controls; C1 controls, separators and bidi overrides it leaves raw.
        return UNSAFE_CHARACTERS.sub(
            lambda m: f"\\u{ord(m.group()):04x}", json.dumps(entry, ensure_ascii=False)
        )


def configure_logging(level: int = logging.INFO, fmt: str = "text") -> None:
    """Root handler on stderr with job/video context, in ``text`` or ``json`` format."""
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("urllib3", "botocore", "PIL", "celery.utils.functional"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

"""Exports of a job result in the formats other tools read.

- ``qvh``: JSON lines of the moment-retrieval field (QVHighlights / Moment-DETR / Lighthouse).
- ``vtt``: WebVTT chapters, one cue per clip.
- ``edl``: CMX 3600 edit decision list at each video's frame rate (drop-frame at 29.97).
- ``csv``: one row per clip.

Pure functions of a :class:`~common.schemas.JobResult`: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable

from common.errors import InvalidInputError
from common.schemas import JobResult
from producer.exports.csvfile import to_csv
from producer.exports.edl import to_edl
from producer.exports.qvh import to_qvh
from producer.exports.vtt import to_vtt

#: Format name -> function writing it.
EXPORTERS: dict[str, Callable[[JobResult], str]] = {
    "qvh": to_qvh,
    "vtt": to_vtt,
    "edl": to_edl,
    "csv": to_csv,
}
#: Format names accepted by ``seglocate export --format`` and ``Job.export``.
FORMATS = tuple(EXPORTERS)
#: File name suffix of each format.
SUFFIXES = {"qvh": ".jsonl", "vtt": ".vtt", "edl": ".edl", "csv": ".csv"}
#: Media type of each format (for downloads).
MEDIA_TYPES = {
    "qvh": "application/jsonl",
    "vtt": "text/vtt",
    "edl": "text/plain",
    "csv": "text/csv",
}


def export_result(result: JobResult, fmt: str) -> str:
    """``result`` written in format ``fmt`` (one of :data:`FORMATS`)."""
    exporter = EXPORTERS.get(fmt)
    if exporter is None:
        raise InvalidInputError(
            f"export format {fmt!r}", f"unknown; choose one of {', '.join(FORMATS)}"
        )
    return exporter(result)


def export_file_name(job_id: str, fmt: str) -> str:
    """``{job_id}.{suffix}``, e.g. ``20261125-180441-b6eedccb.edl``."""
    return f"{job_id}{SUFFIXES[fmt]}"

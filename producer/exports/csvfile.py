"""CSV: one row per clip, ranked, for spreadsheets."""

from __future__ import annotations

import csv
import io

from common.schemas import JobResult

#: Column names, in order. Times are seconds; ``score`` is 0-100.
COLUMNS = ("rank", "video", "start", "end", "duration", "score", "thumbnail", "job_id", "query")


def to_csv(result: JobResult) -> str:
    """A header row, then each clip of ``result.clips`` (best first)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for clip in result.clips:
        writer.writerow(
            (
                clip.rank,
                clip.video,
                f"{clip.start:.3f}",
                f"{clip.end:.3f}",
                f"{clip.end - clip.start:.3f}",
                f"{clip.score:.2f}",
                clip.thumbnail or "",
                result.job_id,
                result.query_text or "",
            )
        )
    return buffer.getvalue()

"""CMX 3600 edit decision list: each clip an event, at its video's own frame rate.

Source timecode counts from 00:00:00:00 at the first frame of the file; the record side lays the
clips end to end from 01:00:00:00 (the usual programme start), best clip first. Drop-frame
timecode (``;`` before the frames) is used at 29.97 and 59.94 fps. Out points are exclusive
(the first frame after the clip), as CMX 3600 has them.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from common.schemas import JobResult
from producer.exports.timecode import (
    DEFAULT_FRAME_RATE,
    FrameRate,
    frame_rate,
    frames_to_timecode,
    seconds_to_frames,
)

#: Record timecode of the first event: one hour, as editors expect a programme to start.
RECORD_START_S = 3600
#: Reel name of file-based sources ("auxiliary"); the file is named in a comment below the event.
REEL = "AX"
#: CMX 3600 titles are at most 70 characters.
TITLE_MAX = 70


def _title(result: JobResult) -> str:
    query = result.query_text or "image/clip query"
    ascii_only = re.sub(r"[^\x20-\x7e]", "?", f"seglocate {query}")
    return ascii_only[:TITLE_MAX]


def _fcm(rate: FrameRate) -> str:
    return "FCM: DROP FRAME" if rate.drop_frame else "FCM: NON-DROP FRAME"


def clip_rates(result: JobResult, default_fps: float = DEFAULT_FRAME_RATE) -> dict[str, FrameRate]:
    """Each video's timecode rate; ``default_fps`` where the result does not record one."""
    return {video.video: frame_rate(video.frame_rate or default_fps) for video in result.videos}


def to_edl(result: JobResult, default_fps: float = DEFAULT_FRAME_RATE) -> str:
    """The EDL text (CRLF-free, ASCII except clip names) of ``result.clips``, best first."""
    rates = clip_rates(result, default_fps)
    fallback = frame_rate(default_fps)
    clips = result.clips
    record_rate = rates.get(clips[0].video, fallback) if clips else fallback
    lines = [f"TITLE: {_title(result)}", _fcm(record_rate)]
    unknown = sorted({v.video for v in result.videos if v.frame_rate is None})
    if unknown:
        lines.append(
            f"* FRAME RATE UNKNOWN, {fallback.label} FPS ASSUMED FOR: {', '.join(unknown)}"
        )
    lines.append("")
    record = seconds_to_frames(RECORD_START_S, record_rate)
    current_fcm = _fcm(record_rate)
    for number, clip in enumerate(clips, 1):
        rate = rates.get(clip.video, fallback)
        if _fcm(rate) != current_fcm:
            current_fcm = _fcm(rate)
            lines.append(current_fcm)
        src_in = seconds_to_frames(clip.start, rate)
        src_out = max(seconds_to_frames(clip.end, rate), src_in + 1)
        length = round((src_out - src_in) / rate.fps * record_rate.fps) or 1
        lines.append(
            f"{number:03d}  {REEL:<8} V     C        "
            f"{frames_to_timecode(src_in, rate)} {frames_to_timecode(src_out, rate)} "
            f"{frames_to_timecode(record, record_rate)} "
            f"{frames_to_timecode(record + length, record_rate)}"
        )
        lines.append(f"* FROM CLIP NAME: {PurePosixPath(clip.video).name}")
        lines.append(f"* SOURCE FILE: {clip.video}")
        lines.append(f"* COMMENT: RANK {clip.rank} SCORE {clip.score:.1f}")
        lines.append("")
        record += length
    return "\n".join(lines)

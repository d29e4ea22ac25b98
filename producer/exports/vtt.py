"""WebVTT chapters: one cue per clip, so a player shows the answers as chapters."""

from __future__ import annotations

from common.schemas import Clip, JobResult


def vtt_timestamp(seconds: float) -> str:
    """``HH:MM:SS.mmm`` (WebVTT cue timing), milliseconds rounded."""
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


def cue_text(clip: Clip, several_videos: bool) -> str:
    """``#1 score 87.5`` (with the video's name when the job has several)."""
    text = f"#{clip.rank} score {clip.score:.1f}"
    if several_videos:
        text += f" {clip.video}"
    # "-->" may not appear in cue text; a blank line would end the cue.
    return text.replace("-->", "->").replace("\n", " ")


def to_vtt(result: JobResult) -> str:
    """A WebVTT file with a cue per clip, in start-time order (WebVTT wants cues sorted).

    Cues are identified by rank (``clip-1``); their text names the rank and score, and the
    video where the job has several videos.
    """
    videos = {c.video for c in result.clips}
    several = len(videos) > 1
    query = (result.query_text or "").replace("-->", "->").replace("\n", " ")
    parts = ["WEBVTT", "", f"NOTE seglocate job {result.job_id}: query {query!r}", ""]
    for clip in sorted(result.clips, key=lambda c: (c.start, c.rank)):
        parts += [
            f"clip-{clip.rank}",
            f"{vtt_timestamp(clip.start)} --> {vtt_timestamp(max(clip.end, clip.start + 0.001))}",
            cue_text(clip, several),
            "",
        ]
    return "\n".join(parts)

"""Pure rendering for the web page: HTML snippets, Markdown lines, score-curve figures.

Nothing here talks to the store or to Gradio; URLs come in as functions.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from pydantic import ValidationError

from common.errors import SeglocateError
from common.schemas import JobResult, JobState, JobStatus, VideoState

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Id of the page's ``<video>`` element (the clip cards and the browser test find it by this).
PLAYER_ID = "seglocate-player"
#: Score curves drawn at most (the best videos first); more would be unreadable.
MAX_CURVES = 6


def mmss(seconds: float) -> str:
    """``75.4`` -> ``01:15`` (hours shown when needed), as the CLI prints times."""
    from producer.cli import mmss as cli_mmss

    return cli_mmss(seconds)


def span_text(start: float, end: float) -> str:
    """``00:36–00:48``: a clip's start–end as the page shows it."""
    return f"{mmss(start)}–{mmss(end)}"


def one_line_error(exc: BaseException) -> str:
    """The message the CLI prints after ``seglocate: error:``; never a traceback."""
    if isinstance(exc, SeglocateError):
        return str(exc)
    if isinstance(exc, ValidationError):
        from producer.cli import _validation_message

        return _validation_message(exc)
    return f"unexpected {type(exc).__name__}; the server log has the details"


def error_markdown(message: str) -> str:
    return f"**Error:** {html.escape(message)}"


def short_name(video: str) -> str:
    """The file name of a video path or key: ``uploads/3fa.../lecture.mp4`` -> ``lecture.mp4``."""
    return PurePosixPath(video).name or video


_STATE_WORDS = {
    JobState.queued: "Waiting to start",
    JobState.running: "Searching",
    JobState.succeeded: "Done",
    JobState.partial: "Done, but some videos failed",
    JobState.failed: "Failed",
    JobState.cancelled: "Cancelled",
}


def status_markdown(status: JobStatus) -> str:
    """``Searching: 12 of 30 windows`` and one line per video with its state."""
    head = f"**{_STATE_WORDS[status.state]}**"
    if status.windows_total:
        percent = 100 * status.windows_done / status.windows_total
        head += f": {status.windows_done} of {status.windows_total} windows ({percent:.0f}%)"
    lines = [head, ""]
    for video in status.videos:
        line = f"- {html.escape(short_name(video.video))}: {video.state.value}"
        if video.windows_total and not video.state.finished:
            line += f" ({video.windows_done}/{video.windows_total})"
        if video.error:
            line += f", {html.escape(video.error)}"
        lines.append(line)
    lines.append(f"\njob `{status.job_id}`")
    return "\n".join(lines)


def result_summary(result: JobResult) -> str:
    """One Markdown paragraph: state, how many clips, failures."""
    query = result.query_text or ("an image" if result.query and result.query.image else "a clip")
    n = len(result.clips)
    found = f"{n} clip{'s' if n != 1 else ''}" if n else "no clip scored above the minimum score"
    if result.status == JobState.cancelled:
        found = f"{found} before it stopped" if n else "stopped before any clip was found"
    lines = [
        f"**{_STATE_WORDS[result.status]}**: {found} for *{html.escape(query)}* "
        f"(scorer {result.scorer.name})"
    ]
    for video in result.videos:
        if video.status == VideoState.failed and video.error:
            lines.append(f"- failed: {html.escape(video.error)}")
    lines.append(f"\njob `{result.job_id}`")
    return "\n".join(lines)


def clips_html(
    result: JobResult,
    thumbnail_url: Callable[[str], str],
    video_url: Callable[[str], str | None],
) -> str:
    """The ranked clip list: thumbnail, video, start–end, score; a click plays the clip.

    ``thumbnail_url`` maps a thumbnail key to a URL; ``video_url`` maps a video name to the URL
    the page plays it from (None: it cannot be played here).
    """
    if not result.clips:
        return "<p class='seglocate-empty'>No clip scored above the minimum score.</p>"
    cards = []
    for clip in result.clips:
        url = video_url(clip.video)
        thumb = (
            f"<img src='{html.escape(thumbnail_url(clip.thumbnail))}' alt='' loading='lazy'>"
            if clip.thumbnail
            else "<div class='seglocate-nothumb'></div>"
        )
        play = (
            f" data-url='{html.escape(url)}' data-start='{clip.start:.3f}'"
            f" onclick='window.seglocatePlay && window.seglocatePlay(this)'"
            f" title='#{clip.rank} {html.escape(short_name(clip.video))} "
            f"{span_text(clip.start, clip.end)}'"
            if url
            else " title='this video cannot be played in the page'"
        )
        cards.append(
            f"<button type='button' class='seglocate-clip' data-rank='{clip.rank}'{play}>"
            f"{thumb}<span class='seglocate-rank'>#{clip.rank}</span>"
            f"<span class='seglocate-video'>{html.escape(short_name(clip.video))}</span>"
            f"<span class='seglocate-span'>{span_text(clip.start, clip.end)}</span>"
            f"<span class='seglocate-score'>score {clip.score:.0f}</span></button>"
        )
    return "<div class='seglocate-clips'>" + "".join(cards) + "</div>"


def player_html(url: str | None, start: float = 0.0, caption: str = "") -> str:
    """The page's video player, loaded at ``start`` seconds (a media fragment), paused."""
    if not url:
        return (
            f"<video id='{PLAYER_ID}' controls preload='none' class='seglocate-player'></video>"
            "<p class='seglocate-caption'>Results play here.</p>"
        )
    src = f"{url}#t={start:.3f}"
    return (
        f"<video id='{PLAYER_ID}' controls preload='metadata' class='seglocate-player' "
        f"data-src='{html.escape(url)}' src='{html.escape(src)}'></video>"
        f"<p class='seglocate-caption' id='seglocate-caption'>{html.escape(caption)}</p>"
    )


def score_figure(result: JobResult) -> Figure | None:
    """Each video's window scores over time (the saliency curve), its clips shaded and numbered.

    The best :data:`MAX_CURVES` videos are drawn; None when no video has scores.
    """
    videos = [v for v in result.videos if v.windows]
    if not videos:
        return None
    videos.sort(key=lambda v: -max(w.score for w in v.windows))
    videos = videos[:MAX_CURVES]
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 1.6 + 1.4 * len(videos)), layout="constrained")
    axes = figure.subplots(len(videos), 1, squeeze=False)[:, 0]
    for ax, video in zip(axes, videos, strict=True):
        times = [t for w in video.windows for t in (w.start, w.end)]
        scores = [w.score for w in video.windows for _ in (0, 1)]
        ax.plot(times, scores, color="#3b6ea8", linewidth=1.4)
        ax.fill_between(times, scores, color="#3b6ea8", alpha=0.12)
        for clip in video.clips:
            ax.axvspan(clip.start, clip.end, color="#f0a030", alpha=0.35)
            ax.text((clip.start + clip.end) / 2, 96, f"#{clip.rank}", ha="center", va="top")
        ax.axhline(result.min_score, color="#999999", linewidth=0.8, linestyle="--")
        ax.set_ylim(0, 100)
        ax.set_xlim(0, video.duration or times[-1])
        ax.set_title(short_name(video.video), loc="left", fontsize=10)
        ax.set_ylabel("score")
        ax.xaxis.set_major_formatter(_mmss_formatter())
    axes[-1].set_xlabel("time in the video (dashed: minimum score; orange: clips)")
    return figure


def _mmss_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda seconds, _pos: mmss(max(0.0, seconds)))


def job_choice_label(job_id: str, state: str, query: str) -> str:
    """``20261125-180441-b6eedccb · succeeded · free-body diagram`` for the recent-jobs list."""
    text = query if len(query) <= 60 else query[:57] + "..."
    return f"{job_id} · {state} · {text}"

"""Cover frames: the frames of a video that best fit a title, as full-resolution JPEGs.

``seglocate cover VIDEO --title TEXT`` and :meth:`producer.client.Client.cover` run an ordinary
job through the same queue and scorers, with every window one sampled frame (window = stride =
1/fps, no boundary probes, no minimum score, the full scan), so the result JSON holds a score
for every frame. :func:`producer.cover_pick.pick_frames` chooses the best frames spread over the
video (no two within ``min_gap`` seconds), and ffmpeg extracts each at the video's own
resolution from the original file (a local file, or the object fetched from the store), opened
through the same protocol and format allow-lists as the workers use.

The text scorer (``ocr``) picks the frame whose on-screen text best matches the title; a visual
scorer (``qwen3-vl``) judges the picture itself and picks better-looking frames.
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from common import keys
from common.errors import (
    InvalidInputError,
    ObjectNotFoundError,
    QueryError,
    SeglocateError,
    VideoError,
)
from common.schemas import MAX_FPS
from common.scorers import check_scorer_name
from common.video import ffmpeg_input, require_ffmpeg
from producer.cover_pick import FrameScore, frames_of, pick_frames

if TYPE_CHECKING:
    from producer.client import Client

#: Covers returned by default.
DEFAULT_TOP_K = 3
#: Default least distance between two covers, seconds.
DEFAULT_MIN_GAP_S = 10.0
#: File name of the n-th cover (1-based) in the output folder.
COVER_NAME = "cover-{n}.jpg"
#: ffmpeg MJPEG quality of a cover (2 best .. 31 worst).
COVER_QSCALE = 2
#: Seconds decoded before a cover's time, so the sampling filter sees the frames it saw.
EXTRACT_LEAD_S = 5.0
#: Seconds one frame extraction may take.
EXTRACT_TIMEOUT_S = 120.0
#: Said when the text scorer chose the covers.
TEXT_SCORER_NOTE = (
    "the text scorer (ocr) picked the frames whose on-screen text best matches the title; "
    "a visual scorer (--scorer qwen3-vl) picks better-looking frames"
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CoverPick(_Model):
    """One cover: where it is in the video, how well it fits the title, where its JPEG is."""

    rank: int = Field(ge=1)  #: 1 is best
    time: float = Field(ge=0.0)  #: seconds from the start of the video
    score: float = Field(ge=0.0, le=100.0)  #: 0-100
    path: Path  #: the full-resolution JPEG written
    #: What matched (text scorer): ``ocr``, ``speech``, ``both`` or None.
    signal: str | None = None


class CoverResult(_Model):
    """The covers of one video for one title, best first."""

    job_id: str
    video: str
    title: str
    scorer: str
    min_gap: float
    picks: list[CoverPick]
    #: One line for the user (which kind of scorer chose), or None.
    note: str | None = None


def check_cover_request(video: str, title: str, top_k: int, min_gap: float) -> str:
    """The title stripped; a clear error for an empty title, ``top_k`` < 1, a negative (or
    not finite) ``min_gap`` or a video that is not one local file or object key name."""
    stripped = (title or "").strip()
    if not stripped:
        raise QueryError("title", "empty: give the title text the covers should fit")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise InvalidInputError(f"top-k {top_k!r}", "must be a whole number, at least 1")
    if not (isinstance(min_gap, int | float) and min_gap >= 0 and not math.isnan(min_gap)):
        raise InvalidInputError(f"min-gap {min_gap!r}", "must be 0 or more seconds")
    if not video:
        raise VideoError("video", "empty name: give one video file or object key")
    if Path(video).is_file():  # any name a file may have, wildcards included
        return stripped
    if video.startswith(("http://", "https://")):
        raise VideoError(video, "cover reads a local file or an object key, not a URL")
    if Path(video).is_dir() or video.endswith("/") or any(ch in video for ch in "*?["):
        raise VideoError(video, "cover takes one video (a file or an object key), not a folder")
    return stripped


@contextlib.contextmanager
def video_source(client: Client, video: str) -> Iterator[Path]:
    """A local path to ``video``'s bytes: the file itself, the object in a local store, or a
    temporary download of the object."""
    path = Path(video)
    if path.is_file():
        yield path
        return
    bucket = client.settings.videos_bucket
    try:
        keys.check_key(video)
        client.store.stat(bucket, video)
    except (InvalidInputError, ObjectNotFoundError):
        raise VideoError(video, "file not found (neither a local file nor an object key)") from None
    direct = client.store.local_path(bucket, video)
    if direct is not None:
        yield direct
        return
    with tempfile.TemporaryDirectory(prefix="seglocate-cover-") as tmp:
        local = Path(tmp) / (Path(video).name or "video")
        client.store.get_file(bucket, video, local)
        yield local


def extract_frame(path: Path, time_s: float, fps: float, name: str) -> bytes:
    """The frame the job sampled at ``time_s`` seconds (a multiple of ``1/fps``), as a JPEG at
    the video's display size (rotation applied).

    The frame is chosen exactly as the sampler chose it (:func:`common.video.sample_frames`:
    the same ``fps`` filter over the same decoded frames, started on its time grid a few
    seconds earlier), not by seeking to ``time_s``: at 1 fps the sample at 36 s is the last
    frame before 36.5 s, so a slide shown from 36.3 s is in it while a seek to 36 s would show
    the slide before. ffmpeg reads only the local file through the allowed demuxers and writes
    to a pipe (no output file name is ever interpreted).
    """
    require_ffmpeg()
    step = round(max(0.0, time_s) * fps)  # the frame's index on the sampling grid
    lead = min(step, math.ceil(EXTRACT_LEAD_S * fps))  # grid steps decoded before it
    start = (step - lead) / fps
    filters = f"fps=fps={fps!r}:eof_action=pass,select='gte(t\\,{(lead - 0.5) / fps!r})'"
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-skip_frame", "noref"]
    cmd += ["-ss", f"{start:.6f}", *ffmpeg_input(path), "-an", "-sn", "-dn", "-vf", filters]
    cmd += ["-frames:v", "1", "-c:v", "mjpeg", "-q:v", str(COVER_QSCALE), "-pix_fmt", "yuvj444p"]
    cmd += ["-f", "image2pipe", "pipe:1"]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=EXTRACT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise VideoError(
            name, f"frame at {time_s:.2f}s: ffmpeg took over {EXTRACT_TIMEOUT_S:g}s"
        ) from None
    if proc.returncode != 0 or not proc.stdout.startswith(b"\xff\xd8"):
        stderr = proc.stderr.decode("utf-8", "replace").strip()
        detail = (stderr.splitlines() or ["no frame decoded"])[-1][:160]
        raise VideoError(name, f"frame at {time_s:.2f}s could not be extracted ({detail})")
    return proc.stdout


def cover_frames(
    client: Client,
    video: str | os.PathLike[str],
    title: str,
    top_k: int = DEFAULT_TOP_K,
    min_gap: float = DEFAULT_MIN_GAP_S,
    scorer: str | None = None,
    out: str | os.PathLike[str] | None = None,
    *,
    fps: float = 1.0,
    instruction: str | None = None,
    timeout: float | None = None,
    progress: bool = False,
) -> CoverResult:
    """Score every sampled frame of ``video`` against ``title`` through the job queue and
    write the ``top_k`` best, no two within ``min_gap`` seconds, as ``cover-1.jpg``... in
    ``out`` (default: the current folder). See :meth:`producer.client.Client.cover`."""
    name = os.fspath(video)
    text = check_cover_request(name, title, top_k, min_gap)
    scorer_name = check_scorer_name(scorer or client.settings.scorer)
    if not (isinstance(fps, int | float) and 0 < fps <= MAX_FPS):
        raise InvalidInputError(f"fps {fps!r}", f"must be above 0 and at most {MAX_FPS:g}")
    if not Path(name).is_file():
        with video_source(client, name):  # a missing file or key: one clear line, no job
            pass
    job = client.submit(
        [name],
        text,
        instruction=instruction,
        top_k=top_k,
        min_score=0.0,
        window=1.0 / fps,  # one sampled frame a window: each frame scored as an image
        stride=1.0 / fps,
        fps=fps,
        scorer=scorer_name,
        refine_boundaries=False,
        recall="all",  # every frame scored, whatever library recall would pick
    )
    result = job.wait(timeout=timeout, progress=progress)
    found = result.videos[0] if result.videos else None  # the job's one video (named as given)
    if found is None or not found.windows:
        reason = (found.error if found else None) or result.error or "no frame was scored"
        raise SeglocateError(reason if name in reason else f"{name}: {reason}")
    picks = pick_frames(frames_of(found.windows), top_k, min_gap)
    folder = Path(out) if out is not None else Path.cwd()
    folder.mkdir(parents=True, exist_ok=True)
    written = _write_covers(client, name, picks, fps, folder)
    return CoverResult(
        job_id=result.job_id,
        video=name,
        title=text,
        scorer=result.scorer.name,
        min_gap=min_gap,
        picks=written,
        note=TEXT_SCORER_NOTE if result.scorer.name == "text" else None,
    )


def _write_covers(
    client: Client, name: str, picks: list[FrameScore], fps: float, folder: Path
) -> list[CoverPick]:
    written = []
    with video_source(client, name) as source:
        for rank, pick in enumerate(picks, 1):
            path = folder / COVER_NAME.format(n=rank)
            path.write_bytes(extract_frame(source, pick.time, fps, name))
            written.append(
                CoverPick(
                    rank=rank,
                    time=round(pick.time, 3),
                    score=round(pick.score, 2),
                    path=path,
                    signal=pick.signal,
                )
            )
    return written

"""Video I/O at the edge: ffprobe metadata, one-pass frame sampling with ffmpeg, content hashing.

Sampling streams frames through a pipe: memory is one frame at a time, whatever the length.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image

from common.errors import VideoError
from common.resize import resize_bicubic, smart_resize
from common.schemas import VideoProbe
from common.scorers.base import FrameRequirements, SampledFrame
from common.windows import fit_frame_size

log = logging.getLogger(__name__)

#: Below this many bytes nothing can be a playable video.
MIN_VIDEO_BYTES = 1
_SHOWINFO_PTS = re.compile(r"Parsed_showinfo.*?\sn:\s*(\d+)\s.*?pts_time:\s*([-\d.e]+)")

#: The only protocol ffmpeg and ffprobe may open: the store hands workers a local file (the
#: object itself in the local store, a temporary download from S3), never a URL.
ALLOWED_PROTOCOLS = ("file",)
#: Demuxers (ffmpeg format names) a video may be read with: the containers of the file
#: extensions the client takes (mp4/mov/m4v, mkv/webm, avi, mpg, ts, flv, wmv). Any other is
#: refused, above all playlists and indirect formats, which make ffmpeg read the other files
#: (or URLs) they name: a worker would publish frames of files the user cannot read.
ALLOWED_FORMATS = ("mov", "matroska", "avi", "mpeg", "mpegts", "flv", "asf")
#: Demuxers that read other files named inside the input (the refusal says so).
INDIRECT_FORMATS = frozenset({"hls", "dash", "concat", "image2", "imf", "sdp", "rtsp"})
_REFUSED_FORMAT = re.compile(r"\[([\w-]+) @ [^\]]*\] Format not on whitelist")


def ffmpeg_input(path: Path) -> list[str]:
    """The options and ``-i`` argument that open ``path`` for ffmpeg or ffprobe: as a local file
    (a name such as ``concat:x.mp4`` is not read as a protocol), through an allowed demuxer."""
    return [
        "-protocol_whitelist", ",".join(ALLOWED_PROTOCOLS),
        "-format_whitelist", ",".join(ALLOWED_FORMATS),
        "-i", f"file:{path.absolute()}",
    ]  # fmt: skip


def refused_format_reason(format_name: str) -> str:
    """Why a video read by the demuxer ``format_name`` is refused (one line)."""
    if format_name in INDIRECT_FORMATS:
        return (
            f"refused: {format_name!r} is a playlist or indirect format that reads other files; "
            "only video container files are read"
        )
    return (
        f"refused: {format_name!r} is not a video container we read "
        "(mp4/mov, mkv/webm, avi, mpeg-ps, mpeg-ts, flv, wmv)"
    )


def _refused_format(stderr: str) -> str | None:
    """The demuxer ffmpeg refused by the format whitelist, if that is why it failed."""
    match = _REFUSED_FORMAT.search(stderr)
    return match.group(1) if match else None


def require_ffmpeg() -> None:
    """Raise a clear error if ffmpeg/ffprobe are not installed."""
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found on PATH: install ffmpeg (apt-get install ffmpeg)")


def content_hash(path: Path) -> str:
    """SHA-256 of the file's bytes, hex."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


#: Four-character ISO-BMFF box types that can open an MP4/MOV file.
_MP4_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot", b"uuid"}


def _looks_like_media(path: Path) -> bool:
    """True unless the header is plainly not a media container (e.g. text named ``.mp4``)."""
    with open(path, "rb") as handle:
        head = handle.read(64)
    if head[4:8] in _MP4_BOXES:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return True  # binary: let ffprobe's own explanation stand
    return False


def _explain_ffprobe_failure(stderr: str) -> str:
    text = stderr.lower()
    if "moov atom not found" in text:
        return "truncated or incomplete MP4 (moov atom not found)"
    if "invalid data found" in text or "could not find codec parameters" in text:
        return "not a video file (ffprobe does not recognise the format)"
    if "end of file" in text or "truncat" in text:
        return "truncated file"
    last = next((line for line in reversed(stderr.strip().splitlines()) if line.strip()), "")
    return f"unreadable by ffprobe ({last.strip()[:160]})" if last else "unreadable by ffprobe"


def _rotation(stream: dict) -> int:
    """The display-matrix rotation in degrees (as ffprobe reports it), in [0, 360)."""
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            return round(float(side["rotation"])) % 360
    rotate = (stream.get("tags") or {}).get("rotate")
    return int(rotate) % 360 if rotate else 0


def _ratio(value: str | None) -> float:
    if not value or value in ("0/0", "N/A"):
        return 0.0
    if "/" in value:
        num, den = value.split("/", 1)
        return float(num) / float(den) if float(den) else 0.0
    return float(value)


def probe_video(path: Path, name: str | None = None) -> VideoProbe:
    """Probe ``path`` with ffprobe. Raises :class:`VideoError` naming the video and the reason."""
    subject = name or str(path)
    if not path.exists():
        raise VideoError(subject, "file not found")
    if path.is_dir():
        raise VideoError(subject, "is a directory, not a video file")
    if path.stat().st_size < MIN_VIDEO_BYTES:
        raise VideoError(subject, "empty file (0 bytes)")
    require_ffmpeg()
    proc = subprocess.run(
        [
            "ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
            *ffmpeg_input(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    if proc.returncode != 0:
        refused = _refused_format(proc.stderr)
        if refused in INDIRECT_FORMATS:
            raise VideoError(subject, refused_format_reason(refused))
        if not _looks_like_media(path):
            raise VideoError(subject, "not a video file (no known container header)")
        if refused is not None:
            raise VideoError(subject, refused_format_reason(refused))
        raise VideoError(subject, _explain_ffprobe_failure(proc.stderr))
    info = json.loads(proc.stdout or "{}")
    format_name = str((info.get("format") or {}).get("format_name") or "")
    if not set(format_name.split(",")) & set(ALLOWED_FORMATS):  # the whitelist, checked twice
        raise VideoError(subject, refused_format_reason(format_name))
    streams = info.get("streams") or []
    video_streams = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    fmt = info.get("format") or {}
    if not video_streams:
        if not streams and _ratio(fmt.get("duration")) <= 0:
            raise VideoError(subject, "zero-length video (the container holds no frames)")
        if any(s.get("codec_type") == "audio" for s in streams):
            raise VideoError(subject, "audio only: the file has no video stream")
        raise VideoError(subject, "not a video file (no video stream)")
    stream = video_streams[0]
    if not stream.get("codec_name"):  # ffprobe knows no codec by this tag: nothing can decode it
        tag = stream.get("codec_tag_string") or "?"
        raise VideoError(subject, f"unknown video codec (tag {tag!r}): no decoder for it")
    duration = _ratio(stream.get("duration")) or _ratio(fmt.get("duration"))
    frames = int(stream.get("nb_frames") or 0)
    fps = _ratio(stream.get("avg_frame_rate")) or _ratio(stream.get("r_frame_rate"))
    if duration <= 0 and frames > 0 and fps > 0:
        duration = frames / fps
    if duration <= 0 or (stream.get("nb_frames") is not None and frames == 0):
        raise VideoError(subject, "zero-length video (no frames)")
    width, height = int(stream.get("width") or 0), int(stream.get("height") or 0)
    if width <= 0 or height <= 0:
        raise VideoError(
            subject, f"video stream has no frame size (codec {stream.get('codec_name')})"
        )
    return VideoProbe(
        duration=duration,
        fps=fps,
        width=width,
        height=height,
        rotation=_rotation(stream),
        codec=str(stream.get("codec_name") or ""),
        start_time=_ratio(stream.get("start_time")),
        frame_count=frames,
    )


@dataclass(frozen=True)
class EncodedFrame:
    """A sampled frame as JPEG bytes, straight from ffmpeg (no decode in Python)."""

    index: int  #: position in the sampled-frame sequence (0-based)
    time: float  #: presentation time, seconds from the start of the video
    jpeg: bytes
    width: int  #: pixels
    height: int


def split_jpeg_stream(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Cut a stream of concatenated baseline JPEGs into whole images.

    Marker segments are skipped by their lengths up to start-of-scan; in the entropy-coded data
    a 0xFF byte is followed by 0x00 or a restart marker unless it starts the end-of-image marker.
    """
    buf = bytearray()
    pos = 0  # parse position inside buf for the current image
    in_scan = False
    for chunk in chunks:
        buf += chunk
        while True:
            if pos == 0:
                start = buf.find(b"\xff\xd8")
                if start < 0:
                    del buf[:-1]
                    break
                del buf[:start]
                pos, in_scan = 2, False
            if not in_scan:
                if len(buf) < pos + 4:
                    break
                if buf[pos] != 0xFF:
                    raise ValueError("corrupt JPEG stream from ffmpeg (expected a marker)")
                marker = buf[pos + 1]
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                if len(buf) < pos + 2 + length:
                    break
                pos += 2 + length
                in_scan = marker == 0xDA  # start of scan: entropy-coded data follows
                continue
            found = -1
            search = pos
            while True:
                k = buf.find(b"\xff", search)
                if k < 0 or k + 1 >= len(buf):
                    break
                nxt = buf[k + 1]
                if nxt == 0xD9:
                    found = k + 2
                    break
                if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:
                    search = k + 2
                    continue
                raise ValueError("corrupt JPEG stream from ffmpeg (unexpected marker in scan)")
            if found < 0:
                pos = max(pos, len(buf) - 1)
                break
            yield bytes(buf[:found])
            del buf[:found]
            pos = 0


def sample_frames(
    path: Path,
    probe: VideoProbe,
    fps: float,
    max_pixels: int,
    name: str | None = None,
    keyframes_only: bool = False,
    size_multiple: int = 2,
) -> Iterator[SampledFrame]:
    """Frames at ``fps`` per second in one sequential decode, resized to at most ``max_pixels``.

    Times are the frames' presentation times in seconds from the start of the file (ffmpeg's
    ``fps`` filter picks the frame on screen at each sampling instant, so variable frame rate
    is handled). Rotation is applied. Raises :class:`VideoError` if ffmpeg fails or the
    file decodes to far less than its stated duration (truncated).
    """
    width, height = fit_frame_size(*probe.display_size, max_pixels, size_multiple)
    frame_bytes = width * height * 3

    output = ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    raw_frames = _raw_frame_reader(frame_bytes)
    for index, time_s, buf in _run_sampler(
        path, probe, fps, (width, height), name, keyframes_only, output, raw_frames
    ):
        image = Image.fromarray(np.frombuffer(buf, np.uint8).reshape(height, width, 3), "RGB")
        yield SampledFrame(index=index, time=time_s, image=image)


def sampled_size(width: int, height: int, needs: FrameRequirements) -> tuple[int, int]:
    """``(width, height)`` in pixels a frame of ``width`` x ``height`` is sampled at for
    ``needs``: floor-fitted into the budget (never enlarged), or Qwen's smart resize."""
    if needs.rounding == "qwen":
        new_h, new_w = smart_resize(
            height,
            width,
            factor=needs.size_multiple,
            min_pixels=needs.min_pixels,
            max_pixels=needs.max_pixels,
        )
        return new_w, new_h
    return fit_frame_size(width, height, needs.max_pixels, needs.size_multiple)


def sample_model_frames(
    path: Path,
    probe: VideoProbe,
    fps: float,
    needs: FrameRequirements,
    name: str | None = None,
) -> Iterator[SampledFrame]:
    """Frames at ``fps`` per second, each resized in Python exactly as ``needs`` says.

    ffmpeg decodes once, sequentially, and hands over frames at their display size (rotation
    applied); :func:`common.resize.resize_bicubic` then brings each to
    :func:`sampled_size`, the filter a vision model's own preprocessing uses. Costs one
    resize per sampled frame over :func:`sample_jpeg_frames`. Raises :class:`VideoError` as
    :func:`sample_frames` does.
    """
    width, height = probe.display_size
    target = sampled_size(width, height, needs)
    frame_bytes = width * height * 3

    output = ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    raw_frames = _raw_frame_reader(frame_bytes)
    for index, time_s, buf in _run_sampler(path, probe, fps, None, name, False, output, raw_frames):
        image = Image.fromarray(np.frombuffer(buf, np.uint8).reshape(height, width, 3), "RGB")
        yield SampledFrame(index=index, time=time_s, image=resize_bicubic(image, *target))


def sample_frames_at(
    path: Path,
    probe: VideoProbe,
    indices: list[int],
    needs: FrameRequirements,
    name: str | None = None,
) -> list[SampledFrame]:
    """The video's frames number ``indices`` (0-based, in decoding order), resized for ``needs``.

    Each frame's ``index`` is its frame number and its ``time`` ``index / probe.fps`` seconds,
    the time the official Qwen3-VL preprocessing labels it with. One sequential decode.
    """
    subject = name or str(path)
    require_ffmpeg()
    if not indices:
        return []
    width, height = probe.display_size
    target = sampled_size(width, height, needs)
    wanted = sorted(set(indices))
    select = "+".join(f"eq(n\\,{i})" for i in wanted)
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path)]
    cmd += ["-an", "-sn", "-dn", "-vf", f"select='{select}'", "-fps_mode", "passthrough"]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    proc = subprocess.run(cmd, capture_output=True, timeout=600)
    frame_bytes = width * height * 3
    count = len(proc.stdout) // frame_bytes
    if proc.returncode != 0 or count < len(wanted):
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise VideoError(
            subject,
            f"decoded {count} of the {len(wanted)} frames wanted ({detail[0][:160]})".rstrip(" ()"),
        )
    decoded = {}
    for position, number in enumerate(wanted):
        buf = proc.stdout[position * frame_bytes : (position + 1) * frame_bytes]
        image = Image.fromarray(np.frombuffer(buf, np.uint8).reshape(height, width, 3), "RGB")
        decoded[number] = resize_bicubic(image, *target)
    rate = probe.fps if probe.fps > 0 else 1.0
    return [SampledFrame(index=i, time=i / rate, image=decoded[i]) for i in indices]


#: ffmpeg MJPEG quality (2 best .. 31 worst): 3 keeps small lecture text crisp.
JPEG_QSCALE = 3


def sample_jpeg_frames(
    path: Path,
    probe: VideoProbe,
    fps: float,
    max_pixels: int,
    name: str | None = None,
    keyframes_only: bool = False,
    size_multiple: int = 2,
) -> Iterator[EncodedFrame]:
    """As :func:`sample_frames`, but ffmpeg encodes each frame to JPEG: nothing is decoded or
    re-encoded in Python, which keeps ingest close to the cost of a bare decode."""
    width, height = fit_frame_size(*probe.display_size, max_pixels, size_multiple)

    def jpegs(stdout: IO[bytes]) -> Iterator[bytes]:
        return split_jpeg_stream(iter(lambda: stdout.read(1 << 16), b""))

    output = ["-c:v", "mjpeg", "-q:v", str(JPEG_QSCALE), "-pix_fmt", "yuvj420p"]
    output += ["-f", "image2pipe", "pipe:1"]
    for index, time_s, jpeg in _run_sampler(
        path, probe, fps, (width, height), name, keyframes_only, output, jpegs
    ):
        yield EncodedFrame(index=index, time=time_s, jpeg=jpeg, width=width, height=height)


def _run_sampler(
    path: Path,
    probe: VideoProbe,
    fps: float,
    size: tuple[int, int] | None,
    name: str | None,
    keyframes_only: bool,
    output: list[str],
    split: Callable[[IO[bytes]], Iterator[bytes]],
) -> Iterator[tuple[int, float, bytes]]:
    """Run ffmpeg once over the file; yield (index, time in seconds, payload) per sampled frame.

    ``size`` (width, height) scales in ffmpeg; ``None`` keeps the display size.
    """
    subject = name or str(path)
    require_ffmpeg()
    scale = f"scale={size[0]}:{size[1]}:flags=area," if size is not None else ""
    filters = f"fps=fps={fps!r}:eof_action=pass,{scale}showinfo"
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "info"]
    if keyframes_only:
        cmd += ["-skip_frame", "nokey"]
    else:
        # Frames no other frame references are never needed at 1 fps: the sampler takes the
        # nearest decoded frame instead (at most a frame or two away), saving their decode.
        cmd += ["-skip_frame", "noref"]
    cmd += [*ffmpeg_input(path), "-an", "-sn", "-dn", "-vf", filters, *output]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    times: queue.Queue[float | None] = queue.Queue()
    errors: list[str] = []
    refused: list[str] = []

    def read_stderr() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace")
            match = _SHOWINFO_PTS.search(line)
            if match:
                times.put(float(match.group(2)))
            elif (name := _refused_format(line)) is not None:
                refused.append(name)
            elif "error" in line.lower() or "invalid" in line.lower():
                errors.append(line.strip())
        times.put(None)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    index = 0
    last_time = -1.0
    assert proc.stdout is not None
    try:
        for payload in split(proc.stdout):
            pts = times.get(timeout=60)
            time_s = max(0.0, (pts if pts is not None else index / fps))
            if time_s <= last_time:  # never let a time go backwards
                time_s = last_time + 1e-3
            last_time = time_s
            yield index, round(time_s, 6), payload
            index += 1
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        reader.join(timeout=5)
    if refused:
        raise VideoError(subject, refused_format_reason(refused[0]))
    if proc.returncode not in (0, None) and index == 0:
        detail = errors[-1] if errors else f"ffmpeg exited with code {proc.returncode}"
        raise VideoError(subject, f"cannot decode video ({detail[:200]})")
    if index == 0:
        raise VideoError(subject, "no frames could be decoded")
    covered = last_time + 1.0 / fps
    if not keyframes_only and probe.duration > 4.0 and covered < 0.8 * probe.duration:
        raise VideoError(
            subject,
            f"truncated or corrupt: decoded only {covered:.1f}s of its {probe.duration:.1f}s",
        )


def _raw_frame_reader(frame_bytes: int) -> Callable[[IO[bytes]], Iterator[bytes]]:
    """Reads ffmpeg's rawvideo output as whole frames of ``frame_bytes`` bytes each (a short
    tail, from a stream cut off mid-frame, is dropped)."""

    def raw_frames(stdout: IO[bytes]) -> Iterator[bytes]:
        while True:
            buf = stdout.read(frame_bytes)
            if len(buf) < frame_bytes:
                return
            yield buf

    return raw_frames

"""A video's audio at the edge: ffprobe for its audio stream, ffmpeg to 16 kHz mono samples.

Decoding streams through a pipe in pieces of at most :data:`PIECE_SECONDS`, each cut at the
quietest instant near its end (so a cut rarely falls inside a word): memory stays flat in video
length (10 min of 16 kHz float32 is 38 MB).

ffmpeg and ffprobe only open plain files and pipes (``-protocol_whitelist file,pipe``), and
formats that read other files or URLs (playlists, concat lists, SDP) are refused, so a crafted
input cannot make a worker fetch or read anything else.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import AudioError, VideoError

#: Samples per second handed to the recogniser (Whisper's rate).
SAMPLE_RATE = 16_000
#: Longest piece of audio decoded at once, seconds (bounds memory: 38 MB of float32 samples).
PIECE_SECONDS = 600.0
#: A piece ends at the quietest 100 ms within this many seconds before its nominal end.
CUT_SEARCH_SECONDS = 5.0
#: Protocols ffmpeg/ffprobe may open: the local file and pipes, never a network or a subfile.
PROTOCOL_WHITELIST = "file,pipe"
#: Demuxers that open other files or URLs named inside the input; refused.
INDIRECT_FORMATS = frozenset(
    {"concat", "hls", "applehttp", "dash", "sdp", "rtp", "rtsp", "image2", "tee", "ffmetadata"}
)
#: Peak amplitude (of 1.0 full scale) below which a track is silence without asking the model.
SILENCE_PEAK = 1e-4


@dataclass(frozen=True)
class AudioStreamInfo:
    """The first audio stream of a file, as ffprobe describes it."""

    codec: str
    sample_rate: int  #: Hz, as stored
    channels: int
    duration: float  #: seconds (0 when unknown)


@dataclass(frozen=True)
class AudioPiece:
    """Consecutive decoded samples: mono float32 at :data:`SAMPLE_RATE`, from ``offset``."""

    offset: float  #: seconds from the start of the audio of the first sample
    samples: np.ndarray

    @property
    def duration(self) -> float:
        """Seconds of audio in the piece."""
        return len(self.samples) / SAMPLE_RATE


def _require(tool: str) -> None:
    if shutil.which(tool) is None:
        raise RuntimeError(f"{tool} not found on PATH: install ffmpeg (apt-get install ffmpeg)")


def _number(value: object) -> float:
    try:
        return float(str(value))
    except ValueError:
        return 0.0


def probe_audio(path: Path, name: str | None = None) -> AudioStreamInfo | None:
    """The first audio stream of ``path``, or None when it has none.

    Raises :class:`VideoError` for a missing or unreadable file, and :class:`AudioError` for a
    format that reads other files (refused) or an audio stream no decoder knows.
    """
    subject = name or str(path)
    if not path.is_file():
        raise VideoError(subject, "file not found")
    _require("ffprobe")
    cmd = [
        "ffprobe", "-v", "error", "-protocol_whitelist", PROTOCOL_WHITELIST,
        "-print_format", "json", "-show_format", "-show_streams", str(path),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        last = next((ln for ln in reversed(proc.stderr.strip().splitlines()) if ln.strip()), "")
        raise VideoError(subject, f"unreadable by ffprobe ({last.strip()[:160]})")
    info = json.loads(proc.stdout or "{}")
    fmt = info.get("format") or {}
    formats = set(str(fmt.get("format_name", "")).split(","))
    refused = sorted(formats & INDIRECT_FORMATS)
    if refused:
        raise AudioError(
            subject, f"format {refused[0]!r} refused: it reads other files or URLs named inside it"
        )
    streams = [s for s in info.get("streams") or [] if s.get("codec_type") == "audio"]
    if not streams:
        return None
    stream = streams[0]
    if not stream.get("codec_name"):
        tag = stream.get("codec_tag_string") or "?"
        raise AudioError(subject, f"unknown audio codec (tag {tag!r}): no decoder for it")
    return AudioStreamInfo(
        codec=str(stream["codec_name"]),
        sample_rate=int(_number(stream.get("sample_rate"))),
        channels=int(stream.get("channels") or 0),
        duration=_number(stream.get("duration")) or _number(fmt.get("duration")),
    )


def quietest_cut(samples: np.ndarray, search_seconds: float = CUT_SEARCH_SECONDS) -> int:
    """Index at which to end a piece: the start of the quietest 100 ms block in its last
    ``search_seconds`` (by mean absolute amplitude); ``len(samples)`` if it is shorter."""
    block = SAMPLE_RATE // 10
    search = int(search_seconds * SAMPLE_RATE) // block * block
    if len(samples) < 2 * search or search < block:
        return len(samples)
    tail = np.abs(samples[len(samples) - search :]).reshape(-1, block).mean(axis=1)
    return len(samples) - search + int(np.argmin(tail)) * block


def read_audio(
    path: Path, name: str | None = None, piece_seconds: float = PIECE_SECONDS
) -> Iterator[AudioPiece]:
    """Decode the first audio stream of ``path`` to mono 16 kHz float32, piece by piece.

    Each piece but the last is at most ``piece_seconds`` long and ends at
    :func:`quietest_cut`. Raises :class:`AudioError` naming the video when ffmpeg fails
    (a corrupt stream: ffmpeg gives up once most packets fail to decode), after the pieces
    decoded so far. The caller checks that there is an audio stream (:func:`probe_audio`).
    """
    subject = name or str(path)
    _require("ffmpeg")
    cmd = [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
        "-protocol_whitelist", PROTOCOL_WHITELIST, "-i", str(path),
        "-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-ar", str(SAMPLE_RATE),
        "-f", "f32le", "pipe:1",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    errors: list[str] = []

    def read_stderr() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            if len(errors) < 1000:
                errors.append(raw.decode("utf-8", "replace").strip())

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    piece_bytes = int(piece_seconds * SAMPLE_RATE) * 4
    pending = np.zeros(0, np.float32)
    offset = 0.0
    assert proc.stdout is not None
    try:
        while True:
            data = proc.stdout.read(piece_bytes - 4 * len(pending))
            if data:
                usable = len(data) // 4 * 4  # a pipe read ends on a sample boundary in practice
                pending = np.concatenate([pending, np.frombuffer(data[:usable], np.float32)])
            if not data or len(pending) * 4 >= piece_bytes:
                cut = len(pending) if not data else quietest_cut(pending)
                if cut:
                    yield AudioPiece(offset=offset, samples=pending[:cut].copy())
                    offset += cut / SAMPLE_RATE
                pending = pending[cut:]
            if not data:
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        reader.join(timeout=5)
    if proc.returncode != 0:
        raise AudioError(subject, f"corrupt audio stream: {_explain(errors, proc.returncode)}")


def _explain(errors: list[str], returncode: int) -> str:
    """One line on why ffmpeg failed, from its error lines."""
    decode_errors = sum(1 for line in errors if "decoding" in line.lower())
    detail = next((line for line in errors if line), f"ffmpeg exited with code {returncode}")
    if decode_errors:
        return f"{decode_errors} audio packets failed to decode ({detail[:160]})"
    return detail[:200]


def is_silent(samples: np.ndarray) -> bool:
    """True when the samples never rise above :data:`SILENCE_PEAK` (digital silence)."""
    return len(samples) == 0 or float(np.max(np.abs(samples))) < SILENCE_PEAK

"""SMPTE timecode arithmetic: seconds <-> frame counts <-> ``HH:MM:SS:FF`` labels.

Pure functions. A timecode *label* counts frames at the nominal rate (30 for 29.97); drop-frame
labels skip frame numbers 0 and 1 (0-3 at 59.94) at the start of every minute except each tenth,
so that the label stays within a frame or two of the wall clock over hours of NTSC video.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Rates within this many frames per second of an NTSC rate (24, 30, 60 x 1000/1001) are NTSC.
NTSC_TOLERANCE = 0.01
#: Used where a video's frame rate is unknown (results written before ``frame_rate`` existed).
DEFAULT_FRAME_RATE = 25.0


@dataclass(frozen=True)
class FrameRate:
    """A video frame rate as timecode sees it."""

    #: Real frames per second (29.97002997... for NTSC 30).
    fps: float
    #: Frames per timecode second (30 for 29.97).
    nominal: int
    #: Drop-frame labels (29.97 and 59.94 only).
    drop_frame: bool

    @property
    def dropped_per_minute(self) -> int:
        """Frame numbers skipped at the start of each minute not divisible by ten."""
        return self.nominal // 15 if self.drop_frame else 0

    @property
    def label(self) -> str:
        """``29.97 DF``, ``25``, ``23.976``."""
        text = f"{self.fps:.3f}".rstrip("0").rstrip(".")
        return f"{text} DF" if self.drop_frame else text


def frame_rate(fps: float, drop_frame: bool | None = None) -> FrameRate:
    """The timecode view of ``fps`` frames per second.

    NTSC rates (23.976, 29.97, 59.94) count at the next whole rate; 29.97 and 59.94 use
    drop-frame labels unless ``drop_frame`` is False. Other rates round to whole frames.
    """
    if fps <= 0:
        raise ValueError(f"frame rate must be positive, got {fps}")
    nominal = round(fps)
    ntsc = nominal * 1000 / 1001
    if abs(fps - ntsc) <= NTSC_TOLERANCE and abs(fps - nominal) > NTSC_TOLERANCE:
        can_drop = nominal % 30 == 0
        drop = can_drop if drop_frame is None else (drop_frame and can_drop)
        return FrameRate(fps=ntsc, nominal=nominal, drop_frame=drop)
    return FrameRate(fps=float(fps), nominal=max(1, nominal), drop_frame=False)


def seconds_to_frames(seconds: float, rate: FrameRate) -> int:
    """The frame shown at ``seconds`` from the start (nearest frame boundary)."""
    return max(0, round(seconds * rate.fps))


def frames_to_seconds(frames: int, rate: FrameRate) -> float:
    """Seconds from the start of frame number ``frames``."""
    return frames / rate.fps


def frames_to_timecode(frames: int, rate: FrameRate) -> str:
    """``HH:MM:SS:FF`` (``HH:MM:SS;FF`` for drop-frame) of frame number ``frames`` (from 0)."""
    if frames < 0:
        raise ValueError(f"frame number must not be negative, got {frames}")
    fps = rate.nominal
    label_frames = frames
    if rate.drop_frame:
        drop = rate.dropped_per_minute
        per_ten_minutes = fps * 600 - drop * 9
        per_minute = fps * 60 - drop
        tens, rest = divmod(frames, per_ten_minutes)
        # The first minute of each ten keeps all its labels; later ones skip ``drop`` labels.
        skipped_minutes = 0 if rest < drop else (rest - drop) // per_minute
        label_frames = frames + drop * 9 * tens + drop * skipped_minutes
    ff = label_frames % fps
    total_seconds = label_frames // fps
    ss = total_seconds % 60
    mm = (total_seconds // 60) % 60
    hh = total_seconds // 3600
    separator = ";" if rate.drop_frame else ":"
    return f"{hh:02d}:{mm:02d}:{ss:02d}{separator}{ff:02d}"


def seconds_to_timecode(seconds: float, rate: FrameRate) -> str:
    """Timecode label of the frame at ``seconds``."""
    return frames_to_timecode(seconds_to_frames(seconds, rate), rate)

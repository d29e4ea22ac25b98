"""Generate a sample slide lecture (720p H.264 with a moving speaker inset) for demos and tests.

``python -m producer.sample_lecture OUT.mp4`` writes the video and prints each slide's span;
``--narrate`` adds a spoken narration (espeak-ng) that says things the slides do not show, and
prints each sentence's span too.

A narration is sentences placed at known times (:class:`Narration`); the spans returned
(:class:`SpokenSpan`) are where each sentence is audible, measured on the synthesised samples,
so tests can check recognised word times against them. :func:`make_short_clip` makes a
short-form clip (under 30 s) with speech only and no text on screen.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from common.video import require_ffmpeg

FONT_DIRS = (Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts"))
LATIN_BOLD = "DejaVuSans-Bold.ttf"
LATIN_REGULAR = "DejaVuSans.ttf"
CJK = "wqy-microhei.ttc"


@dataclass(frozen=True)
class Slide:
    title: str
    bullets: tuple[str, ...]
    duration: float  #: seconds on screen


@dataclass(frozen=True)
class SlideSpan:
    title: str
    start: float  #: seconds
    end: float  #: seconds


@dataclass(frozen=True)
class Narration:
    """A sentence the narrator says, starting at ``start`` seconds."""

    text: str
    start: float  #: seconds from the start of the video
    voice: str = "en-us"  #: espeak-ng voice (``espeak-ng --voices=en``)
    words_per_minute: int = 160


@dataclass(frozen=True)
class SpokenSpan:
    """Where a narrated sentence is audible."""

    text: str
    start: float  #: seconds: its first audible sample
    end: float  #: seconds: just after its last audible sample


@dataclass(frozen=True)
class NarratedLecture:
    """What a generated lecture shows and says, with times."""

    slides: list[SlideSpan]
    spoken: list[SpokenSpan]


#: Samples per second of espeak-ng's output and of the narration track.
NARRATION_RATE = 22_050
#: int16 amplitude above which a narration sample counts as audible (about -40 dBFS).
AUDIBLE_LEVEL = 300
#: The narration track's encoding: mono AAC, small.
AUDIO_CODEC = ("-c:a", "aac", "-b:a", "32k", "-ac", "1")

#: A 2 min 4 s physics lecture; slides share vocabulary on purpose (Newton, law, force).
DEFAULT_SLIDES: tuple[Slide, ...] = (
    Slide(
        "Physics 101: Mechanics",
        ("Course overview and schedule", "Grading: homework and exams", "Office hours on Tuesday"),
        14,
    ),
    Slide(
        "Newton's First Law",
        (
            "An object at rest stays at rest",
            "Inertia resists changes in motion",
            "No net force: constant velocity",
        ),
        17,
    ),
    Slide(
        "Newton's Second Law",
        ("Force equals mass times acceleration", "F = m a", "Measured in newtons"),
        16,
    ),
    Slide(
        "Free-Body Diagrams",
        (
            "Draw every force acting on the object",
            "Gravity, normal force and friction",
            "Add the forces as vectors",
        ),
        18,
    ),
    Slide(
        "能量守恒定律",
        ("能量既不会凭空产生", "也不会凭空消失", "只能从一种形式转化为另一种形式"),
        15,
    ),
    Slide("元素周期表", ("元素按原子序数排列", "同一族的元素性质相似", "门捷列夫于1869年提出"), 16),
    Slide(
        "Newton's Third Law",
        (
            "Every action has an equal and opposite reaction",
            "Forces come in pairs",
            "Rockets push on exhaust gas",
        ),
        13,
    ),
    Slide(
        "Summary and Homework",
        ("Three laws of motion", "Practice problems due Friday", "Read chapter four"),
        15,
    ),
)


#: What the narrator of DEFAULT_SLIDES says that the slides do not show (one sentence a slide).
DEFAULT_NARRATION: tuple[Narration, ...] = (
    Narration("Welcome. This week the lab meets in room two hundred and twelve.", 2.0),
    Narration("Galileo rolled bronze balls down a ramp and saw them keep going.", 17.0),
    Narration("A loaded truck needs a far bigger push than a bicycle to speed up.", 34.0),
    Narration("A book on a table is pulled down by gravity and pushed up by the table.", 50.0),
    Narration("A roller coaster trades its height for speed on the way down.", 68.0, "en-gb"),
    Narration("Mendeleev left gaps in his table for elements nobody had found yet.", 83.0),
    Narration("When you swim you push the water back and the water pushes you forward.", 99.0),
    Narration("In nineteen oh five Einstein showed that mass and energy are equivalent.", 112.0),
)

#: A short-form clip's narration: content spoken, never shown.
DEFAULT_SHORT_NARRATION: tuple[Narration, ...] = (
    Narration("Here is a quick tip for your chemistry exam.", 1.0),
    Narration("Vaccines train the immune system to recognise a virus before it arrives.", 6.0),
    Narration("Remember to bring a calculator on Friday.", 14.0, "en-gb"),
)


def find_font(name: str) -> Path:
    for root in FONT_DIRS:
        for path in root.rglob(name):
            return path
    raise FileNotFoundError(
        f"font {name} not found (apt-get install fonts-dejavu-core fonts-wqy-microhei)"
    )


def _has_cjk(text: str) -> bool:
    return any("\u3000" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in text)


def render_slide(slide: Slide, size: tuple[int, int] = (1280, 720)) -> Image.Image:
    """A white slide with a dark title bar and bullet lines, as an RGB image."""
    width, height = size
    image = Image.new("RGB", size, (250, 250, 247))
    draw = ImageDraw.Draw(image)
    unit = height / 720
    title_font = ImageFont.truetype(
        str(find_font(CJK if _has_cjk(slide.title) else LATIN_BOLD)), int(56 * unit)
    )
    draw.rectangle([0, 0, width, int(130 * unit)], fill=(28, 52, 96))
    draw.text((int(60 * unit), int(34 * unit)), slide.title, font=title_font, fill=(255, 255, 255))
    y = int(190 * unit)
    for bullet in slide.bullets:
        font = ImageFont.truetype(
            str(find_font(CJK if _has_cjk(bullet) else LATIN_REGULAR)), int(38 * unit)
        )
        draw.ellipse(
            [int(70 * unit), y + int(14 * unit), int(84 * unit), y + int(28 * unit)],
            fill=(28, 52, 96),
        )
        draw.text((int(104 * unit), y), bullet, font=font, fill=(20, 20, 20))
        y += int(80 * unit)
    return image


def slide_spans(slides: tuple[Slide, ...] | list[Slide]) -> list[SlideSpan]:
    spans, t = [], 0.0
    for slide in slides:
        spans.append(SlideSpan(slide.title, t, t + slide.duration))
        t += slide.duration
    return spans


def make_lecture(
    path: Path,
    slides: tuple[Slide, ...] | list[Slide] = DEFAULT_SLIDES,
    size: tuple[int, int] = (1280, 720),
    fps: int = 10,
    gop_seconds: float = 10.0,
    narration: Sequence[Narration] = (),
) -> list[SlideSpan]:
    """Write an H.264 lecture: the slides in order, a moving inset in the bottom-right corner.

    With ``narration``, the file also has a mono AAC track saying each sentence at its time
    (:func:`make_narrated_lecture` returns where each one is audible).
    """
    return make_narrated_lecture(path, slides, narration, size, fps, gop_seconds).slides


def make_narrated_lecture(
    path: Path,
    slides: tuple[Slide, ...] | list[Slide] = DEFAULT_SLIDES,
    narration: Sequence[Narration] = DEFAULT_NARRATION,
    size: tuple[int, int] = (1280, 720),
    fps: int = 10,
    gop_seconds: float = 10.0,
) -> NarratedLecture:
    """Write a lecture (see :func:`make_lecture`) with ``narration`` as its audio track (none
    when empty); returns the slides' spans and the spoken sentences' spans."""
    require_ffmpeg()
    width, height = size
    inset_w, inset_h = (width // 5) // 2 * 2, (height // 5) // 2 * 2
    total = sum(s.duration for s in slides)
    with tempfile.TemporaryDirectory(prefix="seglocate-lecture-") as tmp:
        listing = []
        for i, slide in enumerate(slides):
            png = Path(tmp) / f"slide{i:02d}.png"
            render_slide(slide, size).save(png)
            listing += [f"file '{png}'", f"duration {slide.duration}"]
        listing.append(f"file '{Path(tmp) / f'slide{len(slides) - 1:02d}.png'}'")
        (Path(tmp) / "list.txt").write_text("\n".join(listing) + "\n")
        graph = (
            f"[0:v]fps={fps},format=yuv420p[bg];"
            f"[1:v]format=yuv420p[cam];"
            f"[bg][cam]overlay=x=W-w-{width // 40}:y=H-h-{height // 40}:shortest=1[out]"
        )
        audio_in: list[str] = []
        audio_out: list[str] = []
        spoken: list[SpokenSpan] = []
        if narration:
            wav = Path(tmp) / "narration.wav"
            spoken = write_narration(wav, narration, total)
            audio_in = ["-i", str(wav)]
            audio_out = ["-map", "2:a", *AUDIO_CODEC]
        cmd = [
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            # Our own list of the slides just rendered: local files only (common.video reads
            # user videos through an allow-list of containers, where concat is refused).
            "-protocol_whitelist", "file",
            "-f", "concat", "-safe", "0", "-i", str(Path(tmp) / "list.txt"),
            "-f", "lavfi", "-i", f"testsrc2=size={inset_w}x{inset_h}:rate={fps}",
            *audio_in,
            "-filter_complex", graph, "-map", "[out]", *audio_out, "-t", f"{total}",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "28",
            "-g", str(int(gop_seconds * fps)),
            "-pix_fmt", "yuv420p", "-r", str(fps), str(path),
        ]  # fmt: skip
        subprocess.run(cmd, check=True)
    return NarratedLecture(slides=slide_spans(slides), spoken=spoken)


def make_short_clip(
    path: Path,
    narration: Sequence[Narration] = DEFAULT_SHORT_NARRATION,
    seconds: float = 20.0,
    size: tuple[int, int] = (360, 640),
    fps: int = 10,
) -> list[SpokenSpan]:
    """Write a short-form clip (vertical, under 30 s): moving colour gradients, no text on
    screen, and ``narration`` as its only content. Returns the spoken sentences' spans."""
    require_ffmpeg()
    if not 0 < seconds < 30:
        raise ValueError(f"a short-form clip is under 30 s, not {seconds}")
    width, height = size
    with tempfile.TemporaryDirectory(prefix="seglocate-short-") as tmp:
        wav = Path(tmp) / "narration.wav"
        spoken = write_narration(wav, narration, seconds)
        cmd = [
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"gradients=s={width}x{height}:r={fps}:speed=0.02:d={seconds}",
            "-i", str(wav), "-map", "0:v", "-map", "1:a", *AUDIO_CODEC, "-t", f"{seconds}",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "30",
            "-pix_fmt", "yuv420p", str(path),
        ]  # fmt: skip
        subprocess.run(cmd, check=True)
    return spoken


# -- narration -----------------------------------------------------------------------------


def require_espeak() -> None:
    """Raise a clear error if espeak-ng is not installed."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng not found on PATH: apt-get install espeak-ng")


def synthesize(text: str, voice: str = "en-us", words_per_minute: int = 160) -> np.ndarray:
    """``text`` spoken by espeak-ng ``voice``: int16 mono samples at :data:`NARRATION_RATE` Hz."""
    require_espeak()
    with tempfile.TemporaryDirectory(prefix="seglocate-tts-") as tmp:
        wav = Path(tmp) / "sentence.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(wav), "--", text],
            check=True,
            capture_output=True,
        )
        with wave.open(str(wav), "rb") as handle:
            if handle.getframerate() != NARRATION_RATE or handle.getsampwidth() != 2:
                raise RuntimeError(f"espeak-ng wrote {handle.getframerate()} Hz audio")
            return np.frombuffer(handle.readframes(handle.getnframes()), np.int16).copy()


def audible_span(samples: np.ndarray, threshold: int = AUDIBLE_LEVEL) -> tuple[int, int]:
    """(first, last + 1) sample index where ``samples`` (int16) rise above ``threshold``."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    if len(loud) == 0:
        return 0, 0
    return int(loud[0]), int(loud[-1]) + 1


def narration_track(
    narration: Sequence[Narration], seconds: float
) -> tuple[np.ndarray, list[SpokenSpan]]:
    """A ``seconds`` long int16 track with each sentence placed at its start, and the spans
    (seconds) where each is audible. Raises ValueError if sentences overlap or overrun."""
    track = np.zeros(round(seconds * NARRATION_RATE), np.int16)
    spans: list[SpokenSpan] = []
    for item in sorted(narration, key=lambda n: n.start):
        voiced = synthesize(item.text, item.voice, item.words_per_minute)
        first, last = audible_span(voiced)
        voiced = voiced[first:last]
        at = round(item.start * NARRATION_RATE)
        if spans and item.start < spans[-1].end:
            raise ValueError(f"narration {item.text!r} at {item.start}s overlaps the one before")
        if at + len(voiced) > len(track):
            raise ValueError(f"narration {item.text!r} at {item.start}s runs past {seconds}s")
        track[at : at + len(voiced)] = voiced
        spans.append(
            SpokenSpan(item.text, item.start, round((at + len(voiced)) / NARRATION_RATE, 3))
        )
    return track, spans


def write_narration(path: Path, narration: Sequence[Narration], seconds: float) -> list[SpokenSpan]:
    """Write :func:`narration_track` as a WAV file; returns the sentences' spans."""
    track, spans = narration_track(narration, seconds)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(NARRATION_RATE)
        handle.writeframes(track.tobytes())
    return spans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument(
        "--narrate", action="store_true", help="add a spoken narration (needs espeak-ng)"
    )
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    narration = DEFAULT_NARRATION if args.narrate else ()
    lecture = make_narrated_lecture(args.out, narration=narration, size=(width, height))
    for span in lecture.slides:
        print(f"{span.start:6.1f}-{span.end:6.1f}s  {span.title}")
    for said in lecture.spoken:
        print(f"{said.start:6.1f}-{said.end:6.1f}s  said: {said.text}")


if __name__ == "__main__":
    main()

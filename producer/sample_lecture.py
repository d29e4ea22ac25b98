"""Generate a sample slide lecture (720p H.264 with a moving speaker inset) for demos and tests.

``python -m producer.sample_lecture OUT.mp4`` writes the video and prints each slide's span.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

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
) -> list[SlideSpan]:
    """Write an H.264 lecture: the slides in order, a moving inset in the bottom-right corner."""
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
        cmd = [
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            # Our own list of the slides just rendered: local files only (common.video reads
            # user videos through an allow-list of containers, where concat is refused).
            "-protocol_whitelist", "file",
            "-f", "concat", "-safe", "0", "-i", str(Path(tmp) / "list.txt"),
            "-f", "lavfi", "-i", f"testsrc2=size={inset_w}x{inset_h}:rate={fps}",
            "-filter_complex", graph, "-map", "[out]", "-t", f"{total}",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "28",
            "-g", str(int(gop_seconds * fps)),
            "-pix_fmt", "yuv420p", "-r", str(fps), str(path),
        ]  # fmt: skip
        subprocess.run(cmd, check=True)
    return slide_spans(slides)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", default="1280x720")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for span in make_lecture(args.out, size=(width, height)):
        print(f"{span.start:6.1f}-{span.end:6.1f}s  {span.title}")


if __name__ == "__main__":
    main()

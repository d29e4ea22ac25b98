"""Benchmark media, generated once into .bench/ and reused."""

from __future__ import annotations

from pathlib import Path

from benchmarks._util import BENCH_DIR, cached, ffmpeg
from producer.sample_lecture import DEFAULT_SLIDES, Slide, SlideSpan, make_lecture, slide_spans


def lecture_slides(minutes: float, seconds_per_slide: float = 15.0) -> list[Slide]:
    """The default slides repeated (retitled per part) to fill ``minutes``."""
    count = int(minutes * 60 / seconds_per_slide)
    slides = []
    for i in range(count):
        base = DEFAULT_SLIDES[i % len(DEFAULT_SLIDES)]
        part = i // len(DEFAULT_SLIDES) + 1
        title = base.title if part == 1 else f"{base.title} (part {part})"
        slides.append(Slide(title, base.bullets, seconds_per_slide))
    return slides


def lecture_720p(minutes: float, fps: int = 25) -> tuple[Path, list[SlideSpan]]:
    """A 720p H.264 slide lecture with a moving inset, 10 s GOP, ``fps`` frames per second."""
    slides = lecture_slides(minutes)
    path = BENCH_DIR / f"lecture-{minutes:g}min-720p-{fps}fps.mp4"
    cached(path, lambda tmp: make_lecture(tmp, slides, size=(1280, 720), fps=fps, gop_seconds=10))
    return path, slide_spans(slides)


def small_clip(seconds: float, fps: float, size: str = "320x180") -> Path:
    """A cheap moving test pattern (for length and queue benchmarks)."""
    path = BENCH_DIR / f"testsrc-{seconds:g}s-{size}-{fps:g}fps.mp4"
    args = [
        "-f", "lavfi", "-i", f"testsrc2=s={size}:r={fps}:d={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", str(int(fps * 10)),
        "-pix_fmt", "yuv420p", "-f", "mp4",
    ]  # fmt: skip
    cached(path, lambda tmp: ffmpeg(*args, str(tmp)))
    return path


def lecture_1080p(minutes: float, fps: int = 25) -> tuple[Path, list[SlideSpan]]:
    """A 1080p H.264 slide lecture with a moving inset, 10 s GOP, ``fps`` frames per second."""
    slides = lecture_slides(minutes)
    path = BENCH_DIR / f"lecture-{minutes:g}min-1080p-{fps}fps.mp4"
    cached(path, lambda tmp: make_lecture(tmp, slides, size=(1920, 1080), fps=fps, gop_seconds=10))
    return path, slide_spans(slides)

"""The media libraries we tried and did not keep: decord and ffmpeg-python, side by side with
what the pipeline does instead, on one generated 2-minute 720p lecture (25 fps, 10 s GOP).

- One-frame boundary probes (``refine``): frames at 20 instants, read from the frame cache (what
  the pipeline does), by an ffmpeg input seek per probe, and by decord's random access.
- 1 fps sampling of the whole video: our one-pass ffmpeg sampler (JPEG and RGB) and decord.
- ffmpeg-python: the sampler's command built by it, run side by side with ours.

Not part of ``make bench``: decord and ffmpeg-python are no longer dependencies. To re-measure:
``pip install decord==0.6.0 ffmpeg-python==0.2.0`` (or the fork ``decord2``) then
``python -m benchmarks.bench_media_libs``; each decord version gets its own table.
"""

from __future__ import annotations

import random
import subprocess
import tempfile
from pathlib import Path

from benchmarks._util import Figure, print_table, timed, update_doc
from benchmarks.media import lecture_720p
from common.frames import FrameReader, sampling_id, write_frame_cache
from common.scorers.specs import OCR_MAX_PIXELS
from common.storage import LocalObjectStore
from common.video import (
    ALLOWED_FORMATS,
    ffmpeg_input,
    probe_video,
    sample_frames,
    sample_jpeg_frames,
)
from common.windows import fit_frame_size

#: Boundary probes per run (a video with 5 clips has about 20 edge probes).
PROBES = 20
NOTE = (
    "\nMeasured by `python -m benchmarks.bench_media_libs` on a 2-minute 720p lecture (25 fps, "
    "10 s GOP) with `decord==0.6.0` and `ffmpeg-python==0.2.0` installed, then again with the "
    "maintained fork `decord2==3.4.0` (same import name) first on `PYTHONPATH`. None of them is "
    'a dependency (see the README, "Dependencies we tried").'
)


def probe_times(duration: float, seed: int = 3) -> list[float]:
    """Whole-second instants (the sampled frames' times at 1 fps), spread over the video."""
    rng = random.Random(seed)
    return sorted(rng.sample(range(int(duration) - 1), PROBES))


def cached_probes(path: Path, store_dir: Path, times: list[float]) -> tuple[float, float]:
    """(seconds to fill the frame cache, seconds to read the probes' frames from it)."""
    store = LocalObjectStore(store_dir)
    probe = probe_video(path)
    sampling = sampling_id(1.0, OCR_MAX_PIXELS)

    def ingest():
        frames = sample_jpeg_frames(path, probe, 1.0, OCR_MAX_PIXELS)
        return write_frame_cache(store, "w", "h", sampling, 1.0, OCR_MAX_PIXELS, probe, frames)

    manifest, t_ingest = timed(ingest)

    def read() -> int:
        reader = FrameReader(store, "w", manifest)
        indices = [manifest.frame_times.index(float(t)) for t in times]
        return len(reader.frames(indices))

    _, t_read = timed(read)
    return t_ingest, t_read


def ffmpeg_seek_probes(path: Path, times: list[float], size: tuple[int, int]) -> float:
    """Seconds for one ffmpeg run per probe: input seek, decode one frame, JPEG to a pipe."""

    def run() -> None:
        for t in times:
            subprocess.run(
                [
                    "ffmpeg", "-nostdin", "-loglevel", "error", "-ss", f"{t:.3f}",
                    *ffmpeg_input(path), "-frames:v", "1", "-vf", f"scale={size[0]}:{size[1]}",
                    "-c:v", "mjpeg", "-f", "image2pipe", "pipe:1",
                ],
                check=True,
                capture_output=True,
            )  # fmt: skip

    return timed(run)[1]


def decord_probes(path: Path, times: list[float], size: tuple[int, int]) -> tuple[float, float]:
    """(seconds to open the video with decord, seconds for the probes' random access)."""
    from decord import VideoReader, cpu

    width, height = size
    reader, t_open = timed(lambda: VideoReader(str(path), ctx=cpu(0), width=width, height=height))
    fps = reader.get_avg_fps()
    _, t_read = timed(lambda: [reader[round(t * fps)].asnumpy() for t in times])
    return t_open, t_read


def decord_sampling(path: Path, duration: float, size: tuple[int, int]) -> float:
    """Seconds for decord to read every 1 fps frame (one batch of indices, RGB arrays)."""
    from decord import VideoReader, cpu

    def run() -> int:
        reader = VideoReader(str(path), ctx=cpu(0), width=size[0], height=size[1])
        fps = reader.get_avg_fps()
        indices = [round(t * fps) for t in range(int(duration))]
        return len(reader.get_batch(indices).asnumpy())

    return timed(run)[1]


def ffmpeg_python_sampling(path: Path, size: tuple[int, int]) -> tuple[float, list[str]]:
    """Seconds for the sampler's command as ffmpeg-python builds it; the command."""
    import ffmpeg

    stream = ffmpeg.input(
        f"file:{path.absolute()}",
        protocol_whitelist="file",
        format_whitelist=",".join(ALLOWED_FORMATS),
        skip_frame="noref",
    )
    stream = (
        stream.video.filter("fps", fps=1.0, eof_action="pass")
        .filter("scale", size[0], size[1], flags="area")
        .filter("showinfo")
    )
    args = stream.output("pipe:1", vcodec="mjpeg", pix_fmt="yuvj420p", f="image2pipe").compile()
    run = lambda: subprocess.run(args, check=True, capture_output=True)  # noqa: E731
    return timed(run)[1], args


def main() -> list[Figure]:
    path, _ = lecture_720p(2)
    probe = probe_video(path)
    size = fit_frame_size(*probe.display_size, OCR_MAX_PIXELS)
    times = probe_times(probe.duration)
    with tempfile.TemporaryDirectory() as tmp:
        t_ingest, t_cache = cached_probes(path, Path(tmp), times)
    t_seek = ffmpeg_seek_probes(path, times, size)
    t_jpeg = timed(lambda: sum(1 for _ in sample_jpeg_frames(path, probe, 1.0, OCR_MAX_PIXELS)))[1]
    t_rgb = timed(lambda: sum(1 for _ in sample_frames(path, probe, 1.0, OCR_MAX_PIXELS)))[1]
    figures = [
        Figure(f"{PROBES} probes from the frame cache (the pipeline)", t_cache, "s", "-", None),
        Figure(f"{PROBES} probes by ffmpeg input seek, one run each", t_seek, "s", "-", None),
        Figure("ffmpeg seek / frame cache", t_seek / t_cache, "x", "-", None),
        Figure("1 fps sampling, ffmpeg one pass to JPEG (ingest)", t_jpeg, "s", "-", None),
        Figure("1 fps sampling, ffmpeg one pass to RGB", t_rgb, "s", "-", None),
        Figure("ingest incl. writing the frame cache", t_ingest, "s", "-", None),
    ]
    try:
        t_fp, args = ffmpeg_python_sampling(path, size)
        figures += [
            Figure("ffmpeg-python's sampler command (JPEG)", t_fp, "s", "-", None),
            Figure("ffmpeg-python command / ours", t_fp / t_jpeg, "x", "-", None),
        ]
        print("ffmpeg-python built:", " ".join(args))
    except ImportError:
        print("ffmpeg-python is not installed: its figures are not measured")
    table = print_table("Media libraries we tried: the pipeline's way, ffmpeg-python", figures)
    update_doc("bench_media_libs", table + "\n" + NOTE)
    try:
        import decord
    except ImportError:
        print("decord is not installed: its figures are not measured")
        return figures
    t_open, t_decord = decord_probes(path, times, size)
    t_decord_sampling = decord_sampling(path, probe.duration, size)
    name = f"decord {decord.__version__}"
    decord_figures = [
        Figure(f"{name}: open the video (builds its index)", t_open, "s", "-", None),
        Figure(f"{name}: {PROBES} probes by random access", t_decord, "s", "-", None),
        Figure(f"{name} probes (open + access) / frame cache", (t_open + t_decord) / t_cache,
               "x", "-", None),
        Figure(f"{name} probes / ffmpeg seek", (t_open + t_decord) / t_seek, "x", "-", None),
        Figure(f"{name}: 1 fps sampling (get_batch, RGB)", t_decord_sampling, "s", "-", None),
        Figure(f"{name} 1 fps / ffmpeg one pass to RGB", t_decord_sampling / t_rgb, "x", "-",
               None),
    ]  # fmt: skip
    table = print_table(f"Media libraries we tried: {name}", decord_figures)
    update_doc(f"bench_media_libs_decord_{decord.__version__}", table + "\n" + NOTE)
    return figures + decord_figures


if __name__ == "__main__":
    main()

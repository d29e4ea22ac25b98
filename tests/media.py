"""Generated test media (never committed): small videos with known content and known defects."""

from __future__ import annotations

import subprocess
from pathlib import Path


def ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True
    )


def colour_clip(
    path: Path, colour: str, seconds: float, fps: float = 10, size: str = "160x90"
) -> Path:
    ffmpeg(
        "-f", "lavfi", "-i", f"color=c={colour}:s={size}:r={fps}:d={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path),
    )  # fmt: skip
    return path


def testsrc_clip(path: Path, seconds: float, fps: float = 10, size: str = "320x180") -> Path:
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=s={size}:r={fps}:d={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path),
    )  # fmt: skip
    return path


def vfr_clip(path: Path) -> Path:
    """Variable frame rate: 0-3 s red at 30 fps, then 3-8 s blue at 2 fps (one MP4)."""
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=red:s=160x90:r=30:d=3",
        "-f", "lavfi", "-i", "color=c=blue:s=160x90:r=2:d=5",
        "-filter_complex", "[0:v]settb=1/1000[a];[1:v]settb=1/1000[b];[a][b]concat=n=2:v=1[out]",
        "-map", "[out]", "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "ultrafast",
        "-pix_fmt", "yuv420p", str(path),
    )  # fmt: skip
    return path


def rotated_clip(path: Path, seconds: float = 3) -> Path:
    """A 320x180 clip stored with a 90-degree display rotation (shown as 180x320)."""
    plain = path.with_suffix(".plain.mp4")
    testsrc_clip(plain, seconds)
    ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(path))
    plain.unlink()
    return path


def audio_only(path: Path, seconds: float = 2) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac", str(path))
    return path


def zero_length(path: Path) -> Path:
    """A valid MP4 container with a video stream and no frames."""
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=black:s=160x90:r=10:d=1", "-frames:v", "0",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path),
    )  # fmt: skip
    return path


def truncated(path: Path, source: Path) -> Path:
    """The first half of ``source``'s bytes (its index at the end is lost)."""
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def not_a_video(path: Path) -> Path:
    path.write_text("These are lecture notes, not a video.\n" * 20)
    return path


def empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def hls_playlist(path: Path, segment: Path) -> Path:
    """A text file named like a video that is really an HLS playlist naming a local segment."""
    path.write_text(
        f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{segment.resolve()}\n#EXT-X-ENDLIST\n"
    )
    return path


def concat_list(path: Path, *files: str) -> Path:
    """An ffconcat list (named like a video) naming other files."""
    path.write_text("ffconcat version 1.0\n" + "".join(f"file {name}\n" for name in files))
    return path


def image_sequence(folder: Path, pattern: str = "frame%03d.jpg", count: int = 5) -> Path:
    """``count`` JPEGs ``frame000.jpg`` ... and a file literally named ``pattern`` (an image2
    pattern that, opened by name, reads the whole sequence)."""
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=160x90:r=5", "-frames:v", str(count), "-start_number", "0",
        str(folder / pattern),
    )  # fmt: skip
    literal = folder / pattern
    literal.write_bytes((folder / (pattern % 0)).read_bytes())
    return literal


def png_bomb(path: Path, width: int = 30_000, height: int = 30_000) -> Path:
    """A valid 1-bit PNG of ``width`` x ``height`` black pixels: a few hundred KB on disk,
    ``width * height * 3`` bytes once decoded to RGB (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed pixels
    packer = zlib.compressobj(9)
    rows_per_piece = max(1, (1 << 20) // len(row))
    data = b""
    for first in range(0, height, rows_per_piece):
        data += packer.compress(row * min(rows_per_piece, height - first))
    data += packer.flush()
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data)
    path.write_bytes(png + chunk(b"IEND", b""))
    return path


def incompressible_frames_clip(path: Path, seconds: float = 10, size: str = "1280x720") -> Path:
    """A still of fixed noise: a small H.264 file whose sampled frames are large JPEGs (each
    about 400 KB at 720p), so its frame cache is about four times the video."""
    ffmpeg(
        "-f", "lavfi", "-i", f"color=c=gray:s={size}:r=2:d={seconds},noise=alls=40:allf=u",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path),
    )  # fmt: skip
    return path


def with_silent_track(path: Path, seconds: float = 4) -> Path:
    """A small video whose audio stream holds digital silence."""
    ffmpeg(
        "-f", "lavfi", "-i", f"color=c=gray:s=160x90:r=5:d={seconds}",
        "-f", "lavfi", "-i", f"anullsrc=r=16000:cl=mono:d={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "32k", "-shortest", str(path),
    )  # fmt: skip
    return path


def with_hiss_track(path: Path, seconds: float = 4) -> Path:
    """A small video whose audio is faint noise (not digital silence, no speech)."""
    ffmpeg(
        "-f", "lavfi", "-i", f"color=c=gray:s=160x90:r=5:d={seconds}",
        "-f", "lavfi", "-i", f"anoisesrc=r=16000:a=0.003:c=pink:d={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "32k", "-shortest", str(path),
    )  # fmt: skip
    return path


def corrupt_audio(path: Path, source: Path) -> Path:
    """``source`` with every audio packet scrambled (ffmpeg's noise bitstream filter): the
    container and the video are intact, the audio stream cannot be decoded."""
    ffmpeg("-i", str(source), "-c", "copy", "-bsf:a", "noise=amount=2", str(path))
    return path


def audio_file(path: Path, wav: Path) -> Path:
    """``wav`` encoded as an audio-only file (AAC in M4A)."""
    ffmpeg("-i", str(wav), "-c:a", "aac", "-b:a", "32k", str(path))
    return path

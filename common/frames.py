"""The sampled-frame cache: frames of a video stored once per (content hash, sampling parameters).

Frames are JPEG files packed in tar chunks of :data:`FRAMES_PER_CHUNK`; the manifest is written
last, so its presence means the cache entry is complete.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache

from PIL import Image
from pydantic import BaseModel, ConfigDict

from common import keys
from common.errors import CorruptObjectError, ObjectNotFoundError, StoreFullError
from common.schemas import VideoProbe
from common.scorers.base import FrameRequirements, SampledFrame
from common.storage import ObjectStore, read_model_or_none, write_model
from common.video import EncodedFrame

#: Frames per stored chunk (30 s at 1 fps).
FRAMES_PER_CHUNK = 30
#: JPEG quality of cached frames (OCR needs crisp text).
JPEG_QUALITY = 90
#: Bump when the stored frame format changes: old cache entries are then ignored.
FRAME_FORMAT_VERSION = 1


def sampling_id(
    fps: float,
    max_pixels: int,
    size_multiple: int = 2,
    requirements: FrameRequirements | None = None,
) -> str:
    """Cache key part for the sampling parameters (frames per second, pixel budget, rounding).

    With ``requirements`` (whose ``max_pixels`` and ``size_multiple`` win), the minimum size,
    rounding rule, resampler and JPEG settings join the key when they differ from the
    defaults, so frames sampled for different sizes or filters never share an entry.
    """
    extra = ""
    if requirements is not None:
        max_pixels, size_multiple = requirements.max_pixels, requirements.size_multiple
        defaults = FrameRequirements(max_pixels=max_pixels)
        if requirements.min_pixels != defaults.min_pixels:
            extra += f"-min{requirements.min_pixels}"
        if requirements.rounding != defaults.rounding:
            extra += f"-{requirements.rounding}"
        if requirements.resample != defaults.resample:
            extra += f"-{requirements.resample}"
        if (requirements.jpeg_quality, requirements.jpeg_subsampling) != (
            defaults.jpeg_quality,
            defaults.jpeg_subsampling,
        ):
            chroma = requirements.jpeg_subsampling.replace(":", "")
            extra += f"-q{requirements.jpeg_quality}c{chroma}"
    rounding = "" if size_multiple == 2 else f"-m{size_multiple}"
    return f"fps{fps:g}-px{max_pixels}{rounding}{extra}-v{FRAME_FORMAT_VERSION}"


class FrameManifest(BaseModel):
    """Describes a complete frame-cache entry."""

    model_config = ConfigDict(extra="forbid")

    content_hash: str
    sampling_id: str
    fps: float  #: frames per second sampled
    max_pixels: int
    width: int  #: pixels of each stored frame
    height: int
    probe: VideoProbe
    frame_times: list[float]  #: seconds, one per frame, ascending
    frames_per_chunk: int = FRAMES_PER_CHUNK

    @property
    def n_chunks(self) -> int:
        return -(-len(self.frame_times) // self.frames_per_chunk)


def encode_jpeg(
    image: Image.Image, quality: int = JPEG_QUALITY, subsampling: str = "4:2:0"
) -> bytes:
    """``image`` as JPEG bytes (``quality`` 1-95; ``subsampling`` ``"4:2:0"`` or ``"4:4:4"``)."""
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality, subsampling=subsampling)
    return buf.getvalue()


def _pack_chunk(frames: Sequence[tuple[int, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for index, jpeg in frames:
            info = tarfile.TarInfo(f"{index:07d}.jpg")
            info.size = len(jpeg)
            tar.addfile(info, io.BytesIO(jpeg))
    return buf.getvalue()


def _unpack_chunk(data: bytes) -> dict[int, bytes]:
    """Frame index -> JPEG bytes; ``ValueError`` if ``data`` is not one of our chunks."""
    out: dict[int, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
            for member in tar.getmembers():
                handle = tar.extractfile(member)
                if handle is not None:
                    out[int(member.name.split(".", 1)[0])] = handle.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ValueError(f"not a frame chunk ({exc})") from None
    return out


def write_frame_cache(
    store: ObjectStore,
    bucket: str,
    content_hash: str,
    sampling: str,
    fps: float,
    max_pixels: int,
    probe: VideoProbe,
    frames: Iterable[SampledFrame | EncodedFrame],
    jpeg_quality: int = JPEG_QUALITY,
    jpeg_subsampling: str = "4:2:0",
) -> FrameManifest:
    """Store ``frames`` (images, or JPEGs from ffmpeg) chunk by chunk, bounded memory; write the
    manifest last. Images are encoded with ``jpeg_quality`` and ``jpeg_subsampling``.

    If the store fills up, the chunks written so far are deleted (unless another writer
    completed the entry meanwhile) before :class:`StoreFullError` is raised: the space goes back
    to the job's own failure record and result.
    """
    try:
        return _write_frame_cache(
            store, bucket, content_hash, sampling, fps, max_pixels, probe, frames,
            jpeg_quality, jpeg_subsampling,
        )  # fmt: skip
    except StoreFullError:
        if read_manifest(store, bucket, content_hash, sampling) is None:
            for key in store.list_keys(bucket, keys.frames_prefix(content_hash, sampling)):
                store.delete(bucket, key)
        raise


def _write_frame_cache(
    store: ObjectStore,
    bucket: str,
    content_hash: str,
    sampling: str,
    fps: float,
    max_pixels: int,
    probe: VideoProbe,
    frames: Iterable[SampledFrame | EncodedFrame],
    jpeg_quality: int,
    jpeg_subsampling: str,
) -> FrameManifest:
    times: list[float] = []
    pending: list[tuple[int, bytes]] = []
    size = (0, 0)
    chunk_index = 0
    for frame in frames:
        if isinstance(frame, EncodedFrame):
            size = (frame.width, frame.height)
            jpeg = frame.jpeg
        else:
            size = frame.image.size
            jpeg = encode_jpeg(frame.image, jpeg_quality, jpeg_subsampling)
        times.append(frame.time)
        pending.append((frame.index, jpeg))
        if len(pending) == FRAMES_PER_CHUNK:
            store.put_bytes(
                bucket, keys.frames_chunk(content_hash, sampling, chunk_index), _pack_chunk(pending)
            )
            chunk_index += 1
            pending = []
    if pending:
        store.put_bytes(
            bucket, keys.frames_chunk(content_hash, sampling, chunk_index), _pack_chunk(pending)
        )
    manifest = FrameManifest(
        content_hash=content_hash,
        sampling_id=sampling,
        fps=fps,
        max_pixels=max_pixels,
        width=size[0],
        height=size[1],
        probe=probe,
        frame_times=times,
    )
    write_model(store, bucket, keys.frames_manifest(content_hash, sampling), manifest)
    return manifest


def read_manifest(
    store: ObjectStore, bucket: str, content_hash: str, sampling: str
) -> FrameManifest | None:
    """The manifest of a complete cache entry, or None if the frames are not cached."""
    return read_model_or_none(
        store, bucket, keys.frames_manifest(content_hash, sampling), FrameManifest
    )


class FrameReader:
    """Reads cached frames by index, fetching each chunk at most once while it is in use."""

    def __init__(self, store: ObjectStore, bucket: str, manifest: FrameManifest) -> None:
        self.store = store
        self.bucket = bucket
        self.manifest = manifest
        self._chunk_cache = lru_cache(maxsize=4)(self._fetch_chunk)

    def _chunk_key(self, chunk_index: int) -> str:
        return keys.frames_chunk(self.manifest.content_hash, self.manifest.sampling_id, chunk_index)

    def _fetch_chunk(self, chunk_index: int) -> dict[int, bytes]:
        """A chunk's frames; :class:`CorruptObjectError` if it is missing or unreadable (the
        manifest promised it)."""
        key = self._chunk_key(chunk_index)
        try:
            chunk = _unpack_chunk(self.store.get_bytes(self.bucket, key))
        except ObjectNotFoundError:
            raise CorruptObjectError(self.bucket, key, "missing frame chunk") from None
        except ValueError as exc:
            raise CorruptObjectError(self.bucket, key, str(exc)) from None
        first = chunk_index * self.manifest.frames_per_chunk
        expected = range(first, min(first + self.manifest.frames_per_chunk, self.n_frames))
        if sorted(chunk) != list(expected):
            raise CorruptObjectError(self.bucket, key, "frames missing from the chunk")
        return chunk

    @property
    def n_frames(self) -> int:
        return len(self.manifest.frame_times)

    def _decode(self, chunk_index: int, jpeg: bytes) -> Image.Image:
        try:
            image = Image.open(io.BytesIO(jpeg))
            return image.convert("RGB")
        except (OSError, SyntaxError, ValueError) as exc:
            raise CorruptObjectError(self.bucket, self._chunk_key(chunk_index), str(exc)) from None

    def frame(self, index: int) -> SampledFrame:
        chunk_index = index // self.manifest.frames_per_chunk
        chunk = self._chunk_cache(chunk_index)
        image = self._decode(chunk_index, chunk[index])
        return SampledFrame(index=index, time=self.manifest.frame_times[index], image=image)

    def frames(self, indices: Sequence[int]) -> list[SampledFrame]:
        return [self.frame(i) for i in indices]

    def iter_frames(self) -> Iterator[SampledFrame]:
        """All frames in order, one chunk in memory at a time."""
        for chunk_index in range(self.manifest.n_chunks):
            chunk = self._fetch_chunk(chunk_index)
            for index in sorted(chunk):
                image = self._decode(chunk_index, chunk[index])
                yield SampledFrame(index=index, time=self.manifest.frame_times[index], image=image)

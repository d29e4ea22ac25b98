"""The producer step: probe a video, sample and cache its frames, record its windows, enqueue.

Frames are cached per (content hash, sampling parameters): a later job on the same video skips
decoding entirely.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from common import keys
from common.errors import ObjectNotFoundError, VideoError
from common.frames import read_manifest, sampling_id, write_frame_cache
from common.jobstate import job_store, uses_recall, video_ref
from common.pipeline import TASK_PREPARE, PipelineContext
from common.schemas import VideoRef, VideoState, VideoTask
from common.scorers.specs import frame_requirements_for
from common.storage import ObjectStore, read_model_or_none, write_model
from common.video import content_hash, probe_video, sample_jpeg_frames, sample_model_frames
from common.windows import plan_batches, plan_windows
from producer.hearing import hear_video

log = logging.getLogger(__name__)


class ObjectIdentity(BaseModel):
    """Remembers an object's content hash while its etag and size are unchanged."""

    etag: str
    size: int
    content_hash: str


@contextlib.contextmanager
def local_video(ctx: PipelineContext, ref: VideoRef) -> Iterator[Path]:
    """A filesystem path to the video's bytes (the object itself, or a temporary download)."""
    if ref.url is not None:
        with tempfile.TemporaryDirectory(prefix="seglocate-") as tmp:
            yield download_url(ctx, ref, Path(tmp) / "video")
        return
    direct = ctx.store.local_path(ref.bucket, ref.key)
    if direct is not None:
        yield direct
        return
    with tempfile.TemporaryDirectory(prefix="seglocate-") as tmp:
        path = Path(tmp) / (Path(ref.key).name or "video")
        try:
            ctx.store.get_file(ref.bucket, ref.key, path)
        except ObjectNotFoundError:
            raise VideoError(ref.name, f"no such object {ref.bucket}/{ref.key}") from None
        yield path


#: Seconds without data after which a URL download is abandoned.
URL_TIMEOUT_S = 60.0


def download_url(ctx: PipelineContext, ref: VideoRef, path: Path) -> Path:
    """Fetch ``ref.url`` to ``path``, if this worker allows URL inputs; else a clear error."""
    import shutil
    import urllib.error
    import urllib.request

    assert ref.url is not None
    if not ctx.settings.allow_url_inputs:
        raise VideoError(
            ref.name, "URL inputs are disabled on this worker (SEGLOCATE_ALLOW_URL_INPUTS)"
        )
    if not ref.url.startswith(("http://", "https://")):
        raise VideoError(ref.name, "only http(s) URLs can be fetched")
    try:
        with (
            urllib.request.urlopen(ref.url, timeout=URL_TIMEOUT_S) as response,
            open(path, "wb") as out,
        ):
            shutil.copyfileobj(response, out, 1 << 20)
    except urllib.error.HTTPError as exc:
        raise VideoError(ref.name, f"cannot download (HTTP {exc.code} {exc.reason})") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise VideoError(ref.name, f"cannot download ({reason})") from None
    return path


def resolve_content_hash(ctx: PipelineContext, ref: VideoRef) -> str:
    """The SHA-256 of the video's bytes, from the identity index when the object is unchanged."""
    try:
        info = ctx.store.stat(ref.bucket, ref.key)
    except ObjectNotFoundError:
        raise VideoError(ref.name, f"no such object {ref.bucket}/{ref.key}") from None
    if info.size == 0:
        raise VideoError(ref.name, "empty file (0 bytes)")
    index_key = keys.object_identity(ref.bucket, ref.key)
    work = ctx.settings.work_bucket
    known = read_model_or_none(ctx.store, work, index_key, ObjectIdentity)
    if known and known.etag == info.etag and known.size == info.size:
        return known.content_hash
    with local_video(ctx, ref) as path:
        digest = content_hash(path)
    write_model(
        ctx.store,
        work,
        index_key,
        ObjectIdentity(etag=info.etag, size=info.size, content_hash=digest),
    )
    return digest


def remember_content_hash(store: ObjectStore, work_bucket: str, ref: VideoRef, digest: str) -> None:
    """Record a hash computed elsewhere (the client computes it when uploading)."""
    info = store.stat(ref.bucket, ref.key)
    write_model(
        store,
        work_bucket,
        keys.object_identity(ref.bucket, ref.key),
        ObjectIdentity(etag=info.etag, size=info.size, content_hash=digest),
    )


def ingest_video(ctx: PipelineContext, task: VideoTask) -> None:
    """Probe, sample (or reuse cached frames), record windows and batches, enqueue preparation."""
    jobs = job_store(ctx)
    spec = jobs.spec(task.job_id)
    ref = video_ref(spec, task.video_index)
    record = jobs.record(task.job_id, task.video_index, ref.name)
    if record.status.finished:
        return
    if record.status == VideoState.scoring:  # redelivered after planning: just re-enqueue
        ctx.enqueue(TASK_PREPARE, task.model_copy(update={"scorer": spec.options.scorer}))
        return
    record.status = VideoState.ingesting
    jobs.write_record(task.job_id, record)
    crash_on = ctx.settings.fault_crash_on_video
    if crash_on and crash_on in ref.name:  # testing only: simulate a poison message
        log.error("fault injection: crashing this worker on %s", ref.name)
        os._exit(70)
    exhaust_on = ctx.settings.fault_memory_error_on_video
    if exhaust_on and exhaust_on in ref.name:  # testing only: a step that runs out of memory
        raise MemoryError
    options = spec.options
    # The job's frame-size preset picks the size (qwen3-vl); a job asking for a size not yet
    # cached re-samples once, under its own key.
    needs = frame_requirements_for(options.scorer, options.frame_pixels)
    max_pixels, multiple = needs.max_pixels, needs.size_multiple
    sampling = sampling_id(options.fps, max_pixels, multiple, requirements=needs)
    work = ctx.settings.work_bucket
    with contextlib.ExitStack() as stack:
        fetched = None
        if ref.url is not None:  # no identity index for URLs: fetch once, hash the bytes
            fetched = stack.enter_context(local_video(ctx, ref))
            digest = content_hash(fetched)
        else:
            digest = resolve_content_hash(ctx, ref)
        manifest = read_manifest(ctx.store, work, digest, sampling)
        if manifest is not None:
            ctx.count("frame_cache_hits")
        else:
            path = fetched = fetched or stack.enter_context(local_video(ctx, ref))
            probe = probe_video(path, ref.name)
            frames = (
                sample_model_frames(path, probe, options.fps, needs, ref.name)
                if needs.resample == "bicubic"
                else sample_jpeg_frames(
                    path, probe, options.fps, max_pixels, ref.name, size_multiple=multiple
                )
            )
            manifest = write_frame_cache(
                ctx.store,
                work,
                digest,
                sampling,
                options.fps,
                max_pixels,
                probe,
                frames,
                jpeg_quality=needs.jpeg_quality,
                jpeg_subsampling=needs.jpeg_subsampling,
            )
            ctx.count("decodes")
            ctx.count("frames_decoded", len(manifest.frame_times))
            log.info("sampled %d frames of %s", len(manifest.frame_times), ref.name)
        if ctx.settings.asr:  # what is said, once per content hash (a cache hit fetches nothing)

            def video_path() -> Path:
                return fetched or stack.enter_context(local_video(ctx, ref))

            hear_video(ctx, record, digest, ref.name, video_path)
    duration = manifest.probe.duration
    windows = plan_windows(
        duration,
        options.window,
        options.effective_stride,
        max_windows=ctx.settings.max_windows_per_video,
        subject=ref.name,
    )
    record.content_hash = digest
    record.sampling_id = sampling
    record.duration = duration
    record.windows = windows
    # A search with a recall budget, and an index job, score nothing yet: the prepare step
    # indexes the video, then recall picks the windows to score across the job.
    record.planned = not (uses_recall(spec) or options.purpose == "index")
    record.scored = None
    batches = plan_batches(len(windows), ctx.settings.windows_per_task)
    record.batches = batches if record.planned else []
    record.status = VideoState.scoring
    jobs.write_record(task.job_id, record)
    ctx.enqueue(TASK_PREPARE, task.model_copy(update={"scorer": spec.options.scorer}))

"""Loading a job's query media (image, short clip) from the store into a :class:`LoadedQuery`."""

from __future__ import annotations

import tempfile
from collections import OrderedDict
from pathlib import Path

from PIL import Image

from common.errors import InvalidInputError, ObjectNotFoundError, QueryError, VideoError
from common.query_media import check_query_length, decode_query_image, probe_query_clip
from common.schemas import JobSpec
from common.scorers.base import FrameRequirements, LoadedQuery, SampledFrame, Scorer
from common.scorers.qwen3_vl_frames import clip_frame_indices
from common.scorers.specs import ScorerSpec, frame_requirements_for, scorer_spec
from common.storage import ObjectStore
from common.video import sample_frames, sample_frames_at

#: Loaded queries kept per process (one per recent job).
_CACHE_SIZE = 8
_cache: OrderedDict[tuple[str, str], LoadedQuery] = OrderedDict()


def load_query(
    store: ObjectStore,
    videos_bucket: str,
    spec: JobSpec,
    scorer: Scorer,
    max_query_chars: int | None = None,
) -> LoadedQuery:
    """The job's query with media decoded, checked against the scorer; cached per process.

    ``max_query_chars`` (``SEGLOCATE_MAX_QUERY_CHARS``) refuses a crafted spec's long query.
    """
    if spec.query is None:
        raise InvalidInputError(f"job {spec.job_id}", "has no query (it is an index job)")
    if max_query_chars is not None:
        check_query_length(spec.query.text, spec.query.instruction, max_query_chars)
    cache_key = (spec.job_id, scorer.info.name)
    if cache_key in _cache:
        _cache.move_to_end(cache_key)
        return _cache[cache_key]
    query = spec.query
    loaded = LoadedQuery(
        text=query.text,
        instruction=query.instruction,
        video_fps=spec.options.fps,
        frame_pixels=spec.options.frame_pixels,
    )
    facts = scorer_spec(scorer.info.name)
    facts.check_query_kinds(query.kinds())
    if query.image:
        loaded.image = _load_image(store, videos_bucket, query.image)
    if query.video:
        needs = frame_requirements_for(facts.name, spec.options.frame_pixels)
        loaded.video_frames, loaded.video_fps = _load_clip(
            store, videos_bucket, query.video, spec.options.fps, needs, facts
        )
    scorer.check_query(loaded)
    _cache[cache_key] = loaded
    if len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return loaded


def _load_image(store: ObjectStore, bucket: str, key: str) -> Image.Image:
    subject = f"query image {key}"
    try:
        data = store.get_bytes(bucket, key)
    except ObjectNotFoundError:
        raise QueryError(subject, "not found in the store") from None
    return decode_query_image(data, subject)


def _load_clip(
    store: ObjectStore,
    bucket: str,
    key: str,
    fps: float,
    needs: FrameRequirements,
    facts: ScorerSpec,
) -> tuple[list[SampledFrame], float]:
    """The clip's frames and their rate (frames per second of their indices).

    For Qwen's sizing (qwen3-vl) the frames the official sampler picks: 1 fps, 4 to 64 spread
    evenly over the clip's own frames, labelled with their real times; else the job's ``fps``.
    """
    subject = f"query video {key}"
    with tempfile.TemporaryDirectory(prefix="seglocate-query-") as tmp:
        path = Path(tmp) / "clip"
        try:
            store.get_file(bucket, key, path)
        except ObjectNotFoundError:
            raise QueryError(subject, "not found in the store") from None
        probe = probe_query_clip(path, subject, facts)
        try:
            if needs.rounding == "qwen":
                total = probe.frame_count or round(probe.duration * probe.fps)
                try:
                    indices = clip_frame_indices(total, probe.fps)
                except ValueError as exc:
                    raise QueryError(subject, str(exc)) from None
                return sample_frames_at(path, probe, indices, needs, subject), probe.fps
            frames = sample_frames(
                path, probe, fps, needs.max_pixels, subject, size_multiple=needs.size_multiple
            )
            return list(frames), fps
        except VideoError as exc:
            raise QueryError(subject, exc.reason) from None

"""Library search steps: index a video's windows once, recall a search's candidates, embed its
query.

A video's *shard* (:mod:`common.index.shard`) holds its windows' text (on screen and spoken)
and one vector per window from each configured embedder; it is written once per (content hash,
sampling, windowing, text source, embedders) and reused by every later job. A search with a
recall budget (``--recall N``, not ``all``) waits until every video is ingested (a barrier of
per-video markers read once each); one recall step on the cpu queue then scans a job with no
more windows than the budget whole, or asks each video for its shard (the ``index_video`` step,
on the scorer's gpu queue, where the embedders are resident), waits for them (a second
barrier), picks the windows to rerank across the whole job and hands each video its
candidates. Videos without candidates are finished there, without scoring.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING

import numpy as np

from common import keys
from common.errors import InvalidInputError, ObjectNotFoundError
from common.frames import FrameReader
from common.index.library import IndexScope, open_library_index
from common.index.recall import TEXT_SIGNAL, recall, vector_signal
from common.index.shard import EmbedderIdentity, ShardIdentity, ShardWindow
from common.index.shard_store import write_shard
from common.index.window_text import ocr_window_texts
from common.jobstate import job_store, uses_recall
from common.pipeline import (
    TASK_EMBED_QUERY,
    TASK_FINALIZE,
    TASK_INDEX,
    TASK_RECALL,
    TASK_SCORE,
    PipelineContext,
)
from common.recall_option import recall_windows
from common.schemas import (
    BatchTask,
    JobSpec,
    JobTask,
    RecallPlan,
    VideoRecord,
    VideoResult,
    VideoState,
    VideoTask,
    WindowScore,
)
from common.scorers.base import WindowInput
from common.storage import read_model_or_none, write_model
from common.windows import frames_in_window, plan_batches
from workers.scoring import after_scoring, load_features, load_transcript, manifest_of, scorer_of

if TYPE_CHECKING:
    from common.embedders.base import WindowEmbedder

log = logging.getLogger(__name__)

#: The scorer whose cached features give every shard its on-screen text (OCR).
TEXT_SOURCE_SCORER = "text"
#: Windows embedded per call.
EMBED_BATCH = 32


# -- indexing --------------------------------------------------------------------------------


def text_source(ctx: PipelineContext) -> str:
    """What produces the shards' text: the OCR features' identity and the ASR model."""
    features_id = ctx.scorer_for(TEXT_SOURCE_SCORER).features_id
    if ctx.settings.asr:
        from common.speech.asr import asr_cache_id

        return f"{features_id}+asr-{asr_cache_id(ctx.settings.asr_model)}"
    return f"{features_id}+no-asr"


def shard_identity(
    ctx: PipelineContext, spec: JobSpec, record: VideoRecord, embedders: list[WindowEmbedder]
) -> ShardIdentity:
    assert record.content_hash and record.sampling_id
    return ShardIdentity(
        content_hash=record.content_hash,
        sampling_id=record.sampling_id,
        window=spec.options.window,
        stride=spec.options.effective_stride,
        text_source=text_source(ctx),
        embedders=tuple(EmbedderIdentity.of(e.info) for e in embedders),
    )


def index_video(ctx: PipelineContext, spec: JobSpec, record: VideoRecord) -> None:
    """Write the video's shard unless it is stored already (then nothing is decoded, read or
    embedded); note its index scope on ``record`` (the caller writes the record)."""
    from workers.resident import resident_embedders

    embedders = resident_embedders(ctx.settings)
    identity = shard_identity(ctx, spec, record, embedders)
    record.index_scope = IndexScope.of(identity).model_dump(mode="json")
    work = ctx.settings.work_bucket
    if ctx.store.exists(work, identity.key):
        ctx.count("shards_reused")
        return
    manifest = manifest_of(ctx, record)
    features = load_features(ctx, ctx.scorer_for(TEXT_SOURCE_SCORER), manifest, compute=True)
    transcript = load_transcript(ctx, record)
    frame_sets = [frames_in_window(manifest.frame_times, w.start, w.end) for w in record.windows]
    screen = ocr_window_texts(features or {}, frame_sets)
    texts = []
    for span, shown in zip(record.windows, screen, strict=True):
        spoken = transcript.text_between(span.start, span.end) if transcript else ""
        texts.append("\n".join(part for part in (shown, spoken) if part))
    vectors: dict[EmbedderIdentity, np.ndarray] = {}
    reader = FrameReader(ctx.store, work, manifest)
    for embedder in embedders:
        rows = []
        for first in range(0, len(record.windows), EMBED_BATCH):
            chunk = range(first, min(first + EMBED_BATCH, len(record.windows)))
            inputs = [
                WindowInput(
                    start=record.windows[i].start,
                    end=record.windows[i].end,
                    frame_indices=frame_sets[i],
                    frames=reader.frames(frame_sets[i]) if embedder.needs_window_pixels else [],
                    fps=manifest.fps,
                    text=texts[i],
                )
                for i in chunk
            ]
            rows.append(embedder.embed_windows(inputs))
        dims = embedder.info.dims
        block = np.concatenate(rows) if rows else np.zeros((0, dims), np.float32)
        vectors[EmbedderIdentity.of(embedder.info)] = block
        ctx.count("windows_embedded", len(block))
    windows = [
        ShardWindow(start=span.start, end=span.end, text=text)
        for span, text in zip(record.windows, texts, strict=True)
    ]
    write_shard(ctx.store, work, identity, record.duration or 0.0, windows, vectors)
    ctx.count("shards_written")
    log.info("indexed %d windows of %s", len(windows), record.video)


def finish_indexed_video(ctx: PipelineContext, task: VideoTask, record: VideoRecord) -> None:
    """An index job's video is done once its shard is stored."""
    jobs = job_store(ctx)
    result = VideoResult(
        video=record.video,
        duration=record.duration,
        status=VideoState.succeeded,
        speech=record.speech,
        speech_error=record.speech_error,
    )
    jobs.write_video_result(task.job_id, task.video_index, result)
    record.status = VideoState.succeeded
    jobs.finish(task.job_id, record)
    ctx.enqueue(TASK_FINALIZE, JobTask(job_id=task.job_id))


def wait_for_recall(ctx: PipelineContext, task: VideoTask, record: VideoRecord) -> None:
    """Mark the video ready for recall; the last video of the job to get here starts recall.
    Once recall has asked for shards, a video not yet indexed (its message lost, say) is
    indexed instead."""
    jobs = job_store(ctx)
    work = ctx.settings.work_bucket
    if ctx.store.exists(work, keys.job_indexing(task.job_id)) and not jobs.is_indexed(
        task.job_id, task.video_index
    ):
        ctx.enqueue(TASK_INDEX, task)
        return
    jobs.mark_prepared(task.job_id, task.video_index)
    n_videos = len(jobs.spec(task.job_id).videos)
    if jobs.prepared_prefix(task.job_id, n_videos) >= n_videos:
        ctx.enqueue(TASK_RECALL, JobTask(job_id=task.job_id))


def index_for_recall(ctx: PipelineContext, task: VideoTask) -> None:
    """Write (or find) a search's video's shard; the last video indexed starts recall again."""
    jobs = job_store(ctx)
    spec = jobs.spec(task.job_id)
    record = jobs.record(task.job_id, task.video_index, spec.videos[task.video_index].name)
    if record.status != VideoState.scoring or record.planned:
        return
    index_video(ctx, spec, record)
    jobs.write_record(task.job_id, record)
    jobs.mark_indexed(task.job_id, task.video_index)
    if jobs.indexed_prefix(task.job_id, len(spec.videos)) >= len(spec.videos):
        ctx.enqueue(TASK_RECALL, JobTask(job_id=task.job_id))


# -- recall ----------------------------------------------------------------------------------


def recall_job(ctx: PipelineContext, task: JobTask) -> None:
    """Choose the windows to rerank across the job (stored once, at
    ``jobs/{job_id}/recall.json``) and hand each video its candidates.

    Two barriers, each a prefix of per-video markers read once: every video ingested (a job
    with no more windows than the budget is then scanned whole, with no index); then, once
    recall has asked for them, every video's shard (written or found by ``index_for_recall``).
    """
    jobs = job_store(ctx)
    if jobs.result(task.job_id) is not None:
        return
    spec = jobs.spec(task.job_id)
    if not uses_recall(spec):
        return
    work = ctx.settings.work_bucket
    plan = read_model_or_none(ctx.store, work, keys.job_recall(task.job_id), RecallPlan)
    if plan is None:
        n_videos = len(spec.videos)
        if jobs.prepared_prefix(task.job_id, n_videos) < n_videos:
            return  # the last video to be ingested calls us again
        records = {i: jobs.record(task.job_id, i, ref.name) for i, ref in enumerate(spec.videos)}
        waiting = {i: r for i, r in records.items() if not r.status.finished and not r.planned}
        plan = scan_if_within_budget(spec, waiting)
        if plan is None and not ask_for_shards(ctx, spec, waiting):
            return  # shards are being written; the last one calls us again
        if plan is None:
            plan = choose_windows(ctx, spec, waiting)
        if plan is None:
            return  # the query is being embedded; that step calls us again
        write_model(ctx.store, work, keys.job_recall(task.job_id), plan)
        log.info(
            "recall chose %d of %d windows (%s)",
            sum(len(w) if w is not None else 0 for w in plan.videos.values()),
            plan.windows,
            ", ".join(plan.signals) or plan.note,
        )
    apply_plan(ctx, spec, plan)


def scan_if_within_budget(spec: JobSpec, waiting: dict[int, VideoRecord]) -> RecallPlan | None:
    """Every window, for a job with no more windows than the budget (nothing to recall)."""
    budget = recall_windows(spec.options.recall) or 0
    total = sum(len(r.windows) for r in waiting.values())
    if total > budget:
        return None
    note = f"{total} windows, no more than the recall budget: every window is scored"
    scan_all: dict[int, list[int] | None] = {i: None for i in waiting}
    return RecallPlan(budget=budget, windows=total, note=note, videos=scan_all)


def ask_for_shards(ctx: PipelineContext, spec: JobSpec, waiting: dict[int, VideoRecord]) -> bool:
    """True once every waiting video has its shard; else ask for them (once) and say False."""
    jobs = job_store(ctx)
    work = ctx.settings.work_bucket
    marker = keys.job_indexing(spec.job_id)
    if not ctx.store.exists(work, marker):
        ctx.store.put_bytes(work, marker, b"{}", "application/json")
        for index in waiting:
            ctx.enqueue(
                TASK_INDEX,
                VideoTask(job_id=spec.job_id, video_index=index, scorer=spec.options.scorer),
            )
        return False
    return jobs.indexed_prefix(spec.job_id, len(spec.videos)) >= len(spec.videos)


def choose_windows(
    ctx: PipelineContext, spec: JobSpec, waiting: dict[int, VideoRecord]
) -> RecallPlan | None:
    """The job's recall plan, or None while a query vector is still to be computed."""
    budget = recall_windows(spec.options.recall) or 0
    total = sum(len(r.windows) for r in waiting.values())
    scan_all: dict[int, list[int] | None] = {i: None for i in waiting}
    scope = IndexScope.model_validate(next(iter(waiting.values())).index_scope)
    assert spec.query is not None
    query_text = spec.query.text
    vectors: dict[EmbedderIdentity, np.ndarray] = {}
    for embedder in scope.embedders:
        vector = query_vector(ctx, spec, embedder)
        if vector is None:
            return None
        if vector.size:
            vectors[embedder] = vector
    if not (query_text or "").strip() and not vectors:
        note = (
            "recall needs a text query or a window embedder (SEGLOCATE_EMBEDDER) for an image "
            "or clip query: every window is scored"
        )
        return RecallPlan(budget=budget, windows=total, note=note, videos=scan_all)
    index = open_library_index(
        ctx.settings.index_cache_dir, scope, ctx.store, ctx.settings.work_bucket
    )
    hashes = sorted({r.content_hash for r in waiting.values() if r.content_hash})
    report = index.sync(hashes)
    ctx.count("index_videos_added", len(report.added))
    recalled = recall(index, budget, query_text, vectors, videos=hashes)
    by_hash: dict[str, set[int]] = {}
    for window in recalled:
        by_hash.setdefault(window.video, set()).add(window.window)
    chosen: dict[int, list[int] | None] = {}
    for i, record in waiting.items():
        windows = by_hash.get(record.content_hash or "")
        if windows:
            chosen[i] = sorted(w for w in windows if w < len(record.windows))
    signals = ([TEXT_SIGNAL] if query_text else []) + [vector_signal(e) for e in vectors]
    return RecallPlan(budget=budget, windows=total, signals=signals, videos=chosen)


def query_vector(
    ctx: PipelineContext, spec: JobSpec, embedder: EmbedderIdentity
) -> np.ndarray | None:
    """The query's vector from ``embedder``: the text embedder runs here (CPU); a window
    embedder's is computed by a gpu worker (None until it is stored). Empty: no vector (a
    text embedder and an image query)."""
    assert spec.query is not None
    if embedder.name == "text":
        if not (spec.query.text or "").strip():
            return np.zeros(0, np.float32)
        from workers.resident import resident_text_embedder

        local = resident_text_embedder(ctx.settings)
        if local is None or EmbedderIdentity.of(local.info) != embedder:
            raise InvalidInputError(
                f"text embedder {embedder.model_id}",
                "the library was indexed with it, but this worker's SEGLOCATE_TEXT_EMBEDDER "
                "differs; give every worker the same setting",
            )
        return local.embed_texts([spec.query.text or ""])[0]
    key = keys.query_vector(spec.job_id, embedder.tag)
    try:
        data = ctx.store.get_bytes(ctx.settings.work_bucket, key)
    except ObjectNotFoundError:
        ctx.enqueue(
            TASK_EMBED_QUERY,
            VideoTask(job_id=spec.job_id, video_index=0, scorer=spec.options.scorer),
        )
        return None
    return np.load(io.BytesIO(data), allow_pickle=False).astype(np.float32)


def embed_query(ctx: PipelineContext, task: VideoTask) -> None:
    """Embed the job's query with this gpu worker's resident window embedder; recall again."""
    from workers.query import load_query
    from workers.resident import resident_embedders

    jobs = job_store(ctx)
    spec = jobs.spec(task.job_id)
    window_embedders = [e for e in resident_embedders(ctx.settings) if e.info.name != "text"]
    if not window_embedders:
        raise InvalidInputError(
            f"job {task.job_id}",
            "its library was indexed with a window embedder this worker does not hold "
            "(SEGLOCATE_EMBEDDER)",
        )
    query = load_query(
        ctx.store,
        ctx.settings.videos_bucket,
        spec,
        scorer_of(ctx, spec),
        ctx.settings.max_query_chars,
    )
    for embedder in window_embedders:
        identity = EmbedderIdentity.of(embedder.info)
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(embedder.embed_query(query), dtype=np.float32))
        key = keys.query_vector(task.job_id, identity.tag)
        ctx.store.put_bytes(
            ctx.settings.work_bucket, key, buffer.getvalue(), "application/octet-stream"
        )
    ctx.count("queries_embedded")
    ctx.enqueue(TASK_RECALL, JobTask(job_id=task.job_id))


def apply_plan(ctx: PipelineContext, spec: JobSpec, plan: RecallPlan) -> None:
    """Give each waiting video its candidates and enqueue their scoring; a video without
    candidates is finished here (every window unreranked, no clip)."""
    jobs = job_store(ctx)
    passed_over = False
    for index, ref in enumerate(spec.videos):
        record = jobs.record(spec.job_id, index, ref.name)
        if record.status != VideoState.scoring or record.planned:
            continue
        if index not in plan.videos:
            finish_unrecalled(ctx, spec, index, record)
            passed_over = True
            continue
        record.scored = plan.videos[index]
        record.batches = plan_batches(record.windows_to_score, ctx.settings.windows_per_task)
        record.planned = True
        jobs.write_record(spec.job_id, record)
        task = VideoTask(job_id=spec.job_id, video_index=index, scorer=spec.options.scorer)
        for batch_index in range(len(record.batches)):
            ctx.enqueue(TASK_SCORE, BatchTask(**task.model_dump(), batch_index=batch_index))
        if not record.batches:
            ctx.enqueue(after_scoring(spec), task)
    if passed_over:  # one finalize for all the videos finished here (it counts their markers)
        ctx.enqueue(TASK_FINALIZE, JobTask(job_id=spec.job_id))


def finish_unrecalled(ctx: PipelineContext, spec: JobSpec, index: int, record: VideoRecord) -> None:
    """A video recall found nothing in: succeeded, no clip, no window reranked (the caller
    enqueues finalize once for all of them)."""
    jobs = job_store(ctx)
    windows = [
        WindowScore(start=w.start, end=w.end, score=0.0, reranked=False) for w in record.windows
    ]
    result = VideoResult(
        video=record.video,
        duration=record.duration,
        status=VideoState.succeeded,
        windows=windows,
        speech=record.speech,
        speech_error=record.speech_error,
    )
    jobs.write_video_result(spec.job_id, index, result)
    record.status = VideoState.succeeded
    record.planned = True
    record.scored = []
    jobs.finish(spec.job_id, record)
    ctx.count("videos_passed_over")

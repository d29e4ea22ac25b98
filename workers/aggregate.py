"""The aggregate step: merge a fully scored video's windows into clips and thumbnails."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from common import keys
from common.errors import CorruptObjectError
from common.frames import FrameManifest, FrameReader, encode_jpeg, read_manifest
from common.jobstate import job_store, video_ref
from common.pipeline import TASK_FINALIZE, PipelineContext
from common.schemas import (
    BatchScores,
    Clip,
    JobSpec,
    JobTask,
    Refinement,
    ScorerInfo,
    VideoRecord,
    VideoResult,
    VideoState,
    VideoTask,
    WindowScore,
)
from common.speech.boundaries import snap_to_speech
from common.storage import read_model_or_none
from common.text_match import QueryMatcher
from common.window_text import spoken_relevance, video_text_collection
from common.windows import frames_in_window
from workers.clips import ClipSpan, merge_windows, refine_clip
from workers.scoring import load_features, load_transcript

if TYPE_CHECKING:
    from common.speech.transcript import Transcript

log = logging.getLogger(__name__)

#: Longest side of a clip thumbnail, pixels.
THUMBNAIL_MAX_SIDE = 480


def collect_window_scores(
    ctx: PipelineContext, task: VideoTask, record: VideoRecord
) -> tuple[list[WindowScore], ScorerInfo | None] | None:
    """Every window's score, or None while some batch is still missing. Each window once."""
    work = ctx.settings.work_bucket
    scores: list[float | None] = [None] * len(record.windows)
    signals: list[str | None] = [None] * len(record.windows)
    scorer: ScorerInfo | None = None
    for batch_index, (first, end) in enumerate(record.batches):
        key = keys.batch_scores(task.job_id, task.video_index, batch_index)
        batch = read_model_or_none(ctx.store, work, key, BatchScores)
        if batch is None:
            return None
        scorer = batch.scorer
        if batch.first_window != first or len(batch.scores) != end - first:
            reason = f"its windows do not match the video's batch [{first}, {end})"
            raise CorruptObjectError(work, key, reason)
        members = record.batch_windows(batch_index)
        batch_signals = (
            batch.signals if batch.signals and len(batch.signals) == len(members) else None
        )
        for position, window in enumerate(members):
            scores[window] = batch.scores[position]
            signals[window] = batch_signals[position] if batch_signals else None
    # Windows recall passed over score 0 and say so (reranked=False); a full scan has none.
    windows = [
        WindowScore(
            start=span.start,
            end=span.end,
            score=score if score is not None else 0.0,
            signal=signal,
            reranked=score is not None,
        )
        for span, score, signal in zip(record.windows, scores, signals, strict=True)
    ]
    return windows, scorer


#: Signals of clips found by what was said: their ends follow the spoken sentence.
SPEECH_SIGNALS = ("speech", "both")


def speech_relevance(
    ctx: PipelineContext, spec: JobSpec, manifest: FrameManifest | None, transcript: Transcript
) -> Callable[[str], float]:
    """A spoken sentence -> how well it matches the job's text query (0-100), with the IDF
    weights of the video's own on-screen texts and sentences (as the text scorer weighs)."""
    texts: list[list[str]] = []
    scorer = ctx.scorer_for(spec.options.scorer)
    if manifest is not None and scorer.features_id is not None:
        features = load_features(ctx, scorer, manifest, compute=False) or {}
        texts = list(features.get("texts", []))
    collection = video_text_collection(texts, transcript.sentence_texts())
    return spoken_relevance(QueryMatcher(spec.query_text or "", collection))


def _follow_speech(
    ctx: PipelineContext,
    spec: JobSpec,
    record: VideoRecord,
    manifest: FrameManifest | None,
    windows: list[WindowScore],
    spans: list[ClipSpan],
) -> list[ClipSpan]:
    """Clips whose best window matched what was said start and end with the sentences that
    said it (:func:`common.speech.boundaries.snap_to_speech`), not on window edges."""
    by_speech = [windows[span.peak_window].signal in SPEECH_SIGNALS for span in spans]
    if not any(by_speech) or not spec.query_text:
        return spans
    transcript = load_transcript(ctx, record)
    if transcript is None:
        return spans
    relevance = speech_relevance(ctx, spec, manifest, transcript)
    sentences = transcript.sentences()
    followed: list[ClipSpan] = []
    for span, spoken in zip(spans, by_speech, strict=True):
        if spoken:
            start, end = snap_to_speech(span.start, span.end, sentences, relevance, record.duration)
            span = replace(span, start=start, end=end)
        # Clips never overlap: two windows may snap to one sentence; the better clip keeps it.
        if not any(span.start < kept.end and kept.start < span.end for kept in followed):
            followed.append(span)
    return followed


def _thumbnail(
    ctx: PipelineContext, record: VideoRecord, reader: FrameReader, window: WindowScore, key: str
) -> str:
    indices = frames_in_window(reader.manifest.frame_times, window.start, window.end)
    frame = reader.frame(indices[len(indices) // 2])
    image = frame.image.copy()
    image.thumbnail((THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE))
    ctx.store.put_bytes(
        ctx.settings.results_bucket, key, encode_jpeg(image, quality=85), "image/jpeg"
    )
    return key


def aggregate_video(ctx: PipelineContext, task: VideoTask) -> None:
    """Merge a fully scored video's windows into clips with thumbnails; mark it succeeded."""
    jobs = job_store(ctx)
    spec = jobs.spec(task.job_id)
    record = jobs.record(task.job_id, task.video_index, video_ref(spec, task.video_index).name)
    if record.status.finished:
        ctx.enqueue(TASK_FINALIZE, JobTask(job_id=task.job_id))
        return
    if record.status != VideoState.scoring:
        return
    collected = collect_window_scores(ctx, task, record)
    if collected is None:
        return  # another batch is still being scored; its task will call us again
    windows, _scorer = collected
    options = spec.options
    spans = merge_windows(windows, min_score=options.min_score, top_k=options.top_k)
    spans = [span for span in spans if windows[span.peak_window].reranked]
    refinement = read_model_or_none(
        ctx.store, ctx.settings.work_bucket, keys.refinement(task.job_id, task.video_index),
        Refinement,
    )  # fmt: skip
    if refinement is not None:
        spans = [
            refine_clip(span, refinement.probes, windows, min_score=options.min_score)
            for span in spans
        ]
    assert record.content_hash and record.sampling_id
    manifest = read_manifest(
        ctx.store, ctx.settings.work_bucket, record.content_hash, record.sampling_id
    )
    spans = _follow_speech(ctx, spec, record, manifest, windows, spans)
    reader = FrameReader(ctx.store, ctx.settings.work_bucket, manifest) if manifest else None
    clips = []
    for number, span in enumerate(spans, 1):
        thumb = None
        if reader is not None:
            thumb = _thumbnail(
                ctx,
                record,
                reader,
                windows[span.peak_window],
                keys.thumbnail(task.job_id, task.video_index, number),
            )
        clips.append(
            Clip(
                video=record.video,
                start=round(span.start, 3),
                end=round(span.end, 3),
                score=round(span.score, 2),
                rank=number,
                thumbnail=thumb,
                signal=windows[span.peak_window].signal,
            )
        )
    result = VideoResult(
        video=record.video,
        duration=record.duration,
        status=VideoState.succeeded,
        clips=clips,
        windows=windows,
        frame_rate=manifest.probe.fps if manifest else None,
        speech=record.speech,
        speech_error=record.speech_error,
    )
    jobs.write_video_result(task.job_id, task.video_index, result)
    record.status = VideoState.succeeded
    jobs.finish(task.job_id, record)
    ctx.count("videos_aggregated")
    ctx.enqueue(TASK_FINALIZE, JobTask(job_id=task.job_id))

"""The GPU-queue steps: a video's query-independent preparation, then scoring batches of windows."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from common import keys
from common.errors import (
    CorruptObjectError,
    ObjectNotFoundError,
    ScorerMismatchError,
    ScorerOutputError,
)
from common.frames import FrameManifest, FrameReader, read_manifest
from common.jobstate import job_store, video_ref
from common.pipeline import TASK_AGGREGATE, TASK_REFINE, TASK_SCORE, PipelineContext
from common.schemas import (
    BatchScores,
    BatchTask,
    JobSpec,
    Refinement,
    VideoRecord,
    VideoState,
    VideoTask,
    WindowScore,
    WindowSpan,
)
from common.scorers.base import Scorer, WindowInput, WindowMatch
from common.storage import ObjectStore, read_model_or_none, write_model
from common.windows import frames_in_window
from workers.clips import edge_probes, merge_windows
from workers.query import load_query

if TYPE_CHECKING:
    from common.speech.transcript import Transcript

log = logging.getLogger(__name__)


def scorer_of(ctx: PipelineContext, spec: JobSpec) -> Scorer:
    name = spec.options.scorer
    if ctx.served_scorers is not None and name not in ctx.served_scorers:
        served = ", ".join(sorted(ctx.served_scorers))
        raise ScorerMismatchError(
            f"scorer {name!r}: this worker serves {served} (SEGLOCATE_SCORER); "
            f"start a worker with SEGLOCATE_SCORER={name}"
        )
    return ctx.scorer_for(name)


def manifest_of(ctx: PipelineContext, record: VideoRecord) -> FrameManifest:
    assert record.content_hash and record.sampling_id
    work = ctx.settings.work_bucket
    manifest = read_manifest(ctx.store, work, record.content_hash, record.sampling_id)
    if manifest is None:  # deleted behind our back: the repair re-ingests the video
        key = keys.frames_manifest(record.content_hash, record.sampling_id)
        raise CorruptObjectError(work, key, f"cached frames of {record.video} are missing")
    return manifest


def load_features(
    ctx: PipelineContext, scorer: Scorer, manifest: FrameManifest, compute: bool
) -> dict[str, Any] | None:
    """The scorer's cached per-video features; computed and stored first if ``compute``."""
    if scorer.features_id is None:
        return None
    store: ObjectStore = ctx.store
    work = ctx.settings.work_bucket
    key = keys.features(scorer.features_id, manifest.content_hash, manifest.sampling_id)
    try:
        data = store.get_bytes(work, key)
    except ObjectNotFoundError:
        if not compute:
            raise
    else:
        try:
            return dict(json.loads(data))
        except (ValueError, TypeError) as exc:
            raise CorruptObjectError(work, key, f"not features JSON ({exc})") from None
    reader = FrameReader(store, work, manifest)
    features = scorer.extract_features(reader.iter_frames())
    ctx.count("feature_extractions")
    count_feature_frames(ctx, features)
    store.put_bytes(work, key, json.dumps(features).encode(), "application/json")
    return features


def count_feature_frames(ctx: PipelineContext, features: dict[str, Any]) -> None:
    """Count the frames a per-video step looked at, and those it sent to OCR (the ``ocr``
    scorer's features list them in ``ocr_frames``)."""
    total = features.get("frames_total")
    if isinstance(total, int):
        ctx.count("feature_frames", total)
    ocr_frames = features.get("ocr_frames")
    if isinstance(ocr_frames, list):
        ctx.count("ocr_frames", len(ocr_frames))


def count_scoring_call(ctx: PipelineContext, scorer: Scorer, windows: int) -> None:
    """Report one ``score_windows`` call: its windows, and for the reranker the pairs, forward
    passes and tokens (padding apart) of its ``last_stats``."""
    ctx.observe("scoring_call_windows", windows)
    stats = getattr(scorer, "last_stats", None)
    tokens = getattr(stats, "tokens", None)
    padded = getattr(stats, "padded_tokens", None)
    if not isinstance(tokens, int) or not isinstance(padded, int):
        return
    ctx.count("reranker_pairs", int(getattr(stats, "pairs", 0)))
    ctx.count("reranker_forward_passes", int(getattr(stats, "batches", 0)))
    ctx.count("reranker_tokens", tokens)
    ctx.count("reranker_padding_tokens", max(0, padded - tokens))


def _video_context(ctx: PipelineContext, task: VideoTask) -> tuple[JobSpec, VideoRecord] | None:
    """Spec and record if the video is being scored (else the message is stale: None)."""
    jobs = job_store(ctx)
    spec = jobs.spec(task.job_id)
    record = jobs.record(task.job_id, task.video_index, video_ref(spec, task.video_index).name)
    if record.status != VideoState.scoring:
        return None
    return spec, record


def prepare_video(ctx: PipelineContext, task: VideoTask) -> None:
    """Check the scorer and query, compute cached features, enqueue unscored batches."""
    found = _video_context(ctx, task)
    if found is None:
        return
    spec, record = found
    scorer = scorer_of(ctx, spec)
    if spec.options.purpose != "index":
        load_query(
            ctx.store, ctx.settings.videos_bucket, spec, scorer, ctx.settings.max_query_chars
        )
    load_features(ctx, scorer, manifest_of(ctx, record), compute=True)
    if spec.options.purpose == "index":
        from workers.library import finish_indexed_video, index_video

        index_video(ctx, spec, record)
        finish_indexed_video(ctx, task, record)
        return
    if not record.planned:  # recall picks this job's windows first
        from workers.library import wait_for_recall

        wait_for_recall(ctx, task, record)
        return
    done = job_store(ctx).scored_batches(task.job_id, task.video_index)
    pending = [b for b in range(len(record.batches)) if b not in done]
    for batch_index in pending:
        ctx.enqueue(
            TASK_SCORE,
            BatchTask(
                job_id=task.job_id,
                video_index=task.video_index,
                batch_index=batch_index,
                scorer=spec.options.scorer,
            ),
        )
    if not pending:
        ctx.enqueue(after_scoring(spec), task.model_copy(update={"scorer": spec.options.scorer}))


def after_scoring(spec: JobSpec) -> str:
    """The step that follows a video's last scored batch."""
    return TASK_REFINE if spec.options.refine_boundaries else TASK_AGGREGATE


def load_transcript(ctx: PipelineContext, record: VideoRecord) -> Transcript | None:
    """The video's transcript, where the speech step stored one (None: speech off, or no
    audio could be read)."""
    if record.transcript_key is None:
        return None
    from common.speech.transcript import Transcript

    key = record.transcript_key
    transcript = read_model_or_none(ctx.store, ctx.settings.work_bucket, key, Transcript)
    if transcript is None:  # deleted behind our back: the repair transcribes the video again
        raise CorruptObjectError(ctx.settings.work_bucket, key, "the transcript is missing")
    return transcript


def score_spans(
    ctx: PipelineContext, spec: JobSpec, record: VideoRecord, spans: Sequence[WindowSpan]
) -> tuple[Scorer, list[WindowMatch]]:
    """Score the (query, span) pairs of one video with the job's scorer: checked 0-100 scores
    and, where the scorer can tell, which signal matched. A window's document is its frames,
    its on-screen text and the words spoken in it."""
    scorer = scorer_of(ctx, spec)
    query = load_query(
        ctx.store, ctx.settings.videos_bucket, spec, scorer, ctx.settings.max_query_chars
    )
    manifest = manifest_of(ctx, record)
    features = load_features(ctx, scorer, manifest, compute=True)
    transcript = load_transcript(ctx, record)
    work = ctx.settings.work_bucket
    reader = FrameReader(ctx.store, work, manifest) if scorer.needs_window_pixels else None
    windows = []
    for span in spans:
        indices = frames_in_window(manifest.frame_times, span.start, span.end)
        frames = reader.frames(indices) if reader else []
        spoken = transcript.text_between(span.start, span.end) if transcript else ""
        windows.append(
            WindowInput(
                start=span.start, end=span.end, frame_indices=indices, frames=frames,
                fps=manifest.fps, text=spoken,
            )
        )  # fmt: skip
    if ctx.settings.fault_slow_scoring_s:  # testing only: a slow GPU batch
        time.sleep(ctx.settings.fault_slow_scoring_s)
    matches = scorer.match_windows(query, windows, features, transcript) if windows else []
    if windows:
        count_scoring_call(ctx, scorer, len(windows))
    return scorer, _check_matches(list(matches), len(windows), scorer)


def refine_video(ctx: PipelineContext, task: VideoTask) -> None:
    """Score one-frame probes at the edges of the video's coarse clips, then aggregate."""
    found = _video_context(ctx, task)
    if found is None:
        return
    spec, record = found
    key = keys.refinement(task.job_id, task.video_index)
    work = ctx.settings.work_bucket
    if not ctx.store.exists(work, key):
        from workers.aggregate import collect_window_scores

        collected = collect_window_scores(ctx, task, record)
        if collected is None:
            return  # a batch is missing; its task will enqueue us again
        windows, _ = collected
        options = spec.options
        clips = merge_windows(windows, min_score=options.min_score, top_k=options.top_k)
        step = 1.0 / options.fps
        spans = [WindowSpan(start=lo, end=hi) for lo, hi in edge_probes(windows, clips, step)]
        _, matches = score_spans(ctx, spec, record, spans)
        probes = [
            WindowScore(start=s.start, end=s.end, score=m.score, signal=m.signal)
            for s, m in zip(spans, matches, strict=True)
        ]
        write_model(ctx.store, work, key, Refinement(probes=probes))
        ctx.count("probes_scored", len(probes))
    ctx.enqueue(TASK_AGGREGATE, task)


def _check_matches(matches: list[WindowMatch], expected: int, scorer: Scorer) -> list[WindowMatch]:
    """The scorer's matches with scores clamped to 0-100 and rounded; an error for a wrong
    count or a non-finite score."""
    if len(matches) != expected:
        raise ScorerOutputError(
            f"scorer {scorer.info.name}: returned {len(matches)} scores for {expected} windows"
        )
    checked = []
    for match in matches:
        if not math.isfinite(match.score):
            raise ScorerOutputError(f"scorer {scorer.info.name}: returned a non-finite score")
        score = round(min(100.0, max(0.0, float(match.score))), 4)
        signal = str(match.signal) if match.signal is not None and score > 0 else None
        checked.append(WindowMatch(score=score, signal=signal))
    return checked


def score_batch(ctx: PipelineContext, task: BatchTask) -> None:
    """Score one batch of windows and store the scores at their deterministic key."""
    found = _video_context(ctx, task)
    if found is None:
        return
    spec, record = found
    jobs = job_store(ctx)
    key = keys.batch_scores(task.job_id, task.video_index, task.batch_index)
    work = ctx.settings.work_bucket
    if not ctx.store.exists(work, key):
        first, _ = record.batches[task.batch_index]
        spans = [record.windows[i] for i in record.batch_windows(task.batch_index)]
        scorer, matches = score_spans(ctx, spec, record, spans)
        signals = [m.signal for m in matches]
        batch = BatchScores(
            job_id=task.job_id,
            video_index=task.video_index,
            batch_index=task.batch_index,
            first_window=first,
            scores=[m.score for m in matches],
            scorer=scorer.info,
            signals=signals if any(signals) else None,
        )
        ctx.store.put_bytes(work, key, batch.model_dump_json().encode(), "application/json")
        ctx.count("windows_scored", len(matches))
    if len(jobs.scored_batches(task.job_id, task.video_index)) >= len(record.batches):
        next_task = VideoTask(
            job_id=task.job_id, video_index=task.video_index, scorer=spec.options.scorer
        )
        ctx.enqueue(after_scoring(spec), next_task)

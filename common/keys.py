"""Deterministic object keys. One function per kind of object; nothing else builds keys.

Work bucket (``SEGLOCATE_WORK_BUCKET``):
    jobs/{job_id}/spec.json                         JobSpec
    jobs/{job_id}/cancelled.json                    CancelMarker
    jobs/{job_id}/videos/{v:05d}/state.json         VideoRecord
    jobs/{job_id}/videos/{v:05d}/scores/{b:05d}.json  BatchScores (one per batch)
    jobs/{job_id}/videos/{v:05d}/refine.json        Refinement (boundary probes)
    jobs/{job_id}/videos/{v:05d}/result.json        VideoResult
    jobs/{job_id}/finished/{v:05d}.json             FinishedMarker (the video reached an end state)
    jobs/{job_id}/finalize-cursor.json              FinalizeCursor (videos 0..n-1 are finished)
    jobs/{job_id}/attempts/{step_id}/{kind}-{token}.json  AttemptEvent (start, end, failure)
    jobs/{job_id}/repairs/{sha256(bucket/key)}.json  a corrupt object was rebuilt once
    jobs/{job_id}/resumes/{token}.json              ResumeEvent (the reconciler resumed the job)
    jobs/{job_id}/recall.json                       RecallResult (library recall's candidates)
    frames/{content_hash}/{sampling_id}/manifest.json  FrameManifest
    frames/{content_hash}/{sampling_id}/chunk-{c:05d}.tar
    features/{features_id}/{content_hash}/{sampling_id}.json
    hashes/{sha256(bucket/key)}.json                object identity -> content hash
    active/{job_id}.json                            a job without a final result
    workers/{node}.json                             WorkerRecord (heartbeat)
    index/shards/{content_hash}/{sampling_id}/{shard_tag}.json      WindowShard (library index)
    index/vectors/{content_hash}/{sampling_id}/{embedder_tag}.npy   window vectors (float16)
    transcripts/{asr_id}/{content_hash}.json        Transcript (speech, once per content)
Results bucket: {job_id}/result.json, {job_id}/thumbnails/{v:05d}-{n:02d}.jpg
Videos bucket: uploads/{content_hash}/{file name}
"""

from __future__ import annotations

import hashlib
import re

from common.errors import UnsafeKeyError

_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_job_id(job_id: str) -> str:
    """Return ``job_id`` if it is a safe single path segment, else raise."""
    if not _JOB_ID.match(job_id) or ".." in job_id:
        raise UnsafeKeyError(f"job id {job_id!r}", "use letters, digits, '-', '_' or '.'")
    return job_id


def check_key(key: str) -> str:
    """Return ``key`` if it stays inside its bucket: relative, no ``..``, no empty segments."""
    reason = None
    if not key:
        reason = "empty key"
    elif key.startswith("/") or re.match(r"^[A-Za-z]:", key):
        reason = "absolute paths are not object keys"
    elif "\\" in key or "\x00" in key:
        reason = "backslashes and NUL are not allowed in keys"
    elif key.endswith("/"):
        reason = "a key cannot end with '/' (that is a prefix)"
    elif any(part in ("", ".", "..") for part in key.split("/")):
        reason = "'.', '..' and empty path segments are not allowed"
    if reason:
        raise UnsafeKeyError(f"object key {key!r}", reason)
    return key


def job_prefix(job_id: str) -> str:
    return f"jobs/{check_job_id(job_id)}/"


def job_spec(job_id: str) -> str:
    return job_prefix(job_id) + "spec.json"


def job_cancelled(job_id: str) -> str:
    return job_prefix(job_id) + "cancelled.json"


def video_prefix(job_id: str, video_index: int) -> str:
    return f"{job_prefix(job_id)}videos/{video_index:05d}/"


def video_state(job_id: str, video_index: int) -> str:
    return video_prefix(job_id, video_index) + "state.json"


def batch_scores_prefix(job_id: str, video_index: int) -> str:
    return video_prefix(job_id, video_index) + "scores/"


def batch_scores(job_id: str, video_index: int, batch_index: int) -> str:
    return f"{batch_scores_prefix(job_id, video_index)}{batch_index:05d}.json"


def batch_index_from_key(key: str) -> int:
    """Inverse of :func:`batch_scores` for the batch number."""
    return int(key.rsplit("/", 1)[-1].split(".", 1)[0])


def refinement(job_id: str, video_index: int) -> str:
    return video_prefix(job_id, video_index) + "refine.json"


def video_result(job_id: str, video_index: int) -> str:
    return video_prefix(job_id, video_index) + "result.json"


def frames_prefix(content_hash: str, sampling_id: str) -> str:
    return f"frames/{content_hash}/{sampling_id}/"


def frames_manifest(content_hash: str, sampling_id: str) -> str:
    return frames_prefix(content_hash, sampling_id) + "manifest.json"


def frames_chunk(content_hash: str, sampling_id: str, chunk_index: int) -> str:
    return f"{frames_prefix(content_hash, sampling_id)}chunk-{chunk_index:05d}.tar"


def features(features_id: str, content_hash: str, sampling_id: str) -> str:
    return f"features/{features_id}/{content_hash}/{sampling_id}.json"


def object_identity(bucket: str, key: str) -> str:
    digest = hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()
    return f"hashes/{digest}.json"


def result_json(job_id: str) -> str:
    return f"{check_job_id(job_id)}/result.json"


def thumbnail(job_id: str, video_index: int, clip_number: int) -> str:
    return f"{check_job_id(job_id)}/thumbnails/{video_index:05d}-{clip_number:02d}.jpg"


def upload(content_hash: str, file_name: str) -> str:
    safe_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", file_name).strip("._") or "video"
    return f"uploads/{content_hash}/{safe_name}"


def active_job(job_id: str) -> str:
    """Marker of a job without a final result (work bucket); the reconciler scans these."""
    return f"active/{check_job_id(job_id)}.json"


ACTIVE_PREFIX = "active/"


def video_finished(job_id: str, video_index: int) -> str:
    """Marker written once a video reached an end state (the finalize step counts these)."""
    return f"{job_prefix(job_id)}finished/{video_index:05d}.json"


def finalize_cursor(job_id: str) -> str:
    """How many leading videos the finalize step has already seen finished."""
    return job_prefix(job_id) + "finalize-cursor.json"


_STEP_ID = re.compile(r"^[a-z_]+(-\d{5}){0,2}$")


def attempts_prefix(job_id: str, step_id: str) -> str:
    """Folder of one step's attempt events (``step_id`` such as ``score_batch-00003-00012``)."""
    if not _STEP_ID.match(step_id):
        raise UnsafeKeyError(f"step id {step_id!r}", "expected name-NNNNN[-NNNNN]")
    return f"{job_prefix(job_id)}attempts/{step_id}/"


def attempt_event(job_id: str, step_id: str, kind: str, token: str) -> str:
    """One immutable event (``start``, ``end``, ``failure``) of one execution of a step."""
    if kind not in ("start", "end", "failure") or not re.fullmatch(r"[0-9a-f]{8,64}", token):
        raise UnsafeKeyError(f"attempt event {kind}-{token}", "unknown kind or bad token")
    return f"{attempts_prefix(job_id, step_id)}{kind}-{token}.json"


def repair_marker(job_id: str, bucket: str, key: str) -> str:
    """Marks that this job already deleted and rebuilt the corrupt object ``bucket/key``."""
    digest = hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()
    return f"{job_prefix(job_id)}repairs/{digest}.json"


def resumes_prefix(job_id: str) -> str:
    return job_prefix(job_id) + "resumes/"


def resume_event(job_id: str, token: str) -> str:
    """One resume of a stalled job by a reconciler (bounded: a job is not resumed for ever)."""
    if not re.fullmatch(r"[0-9a-f]{8,64}", token):
        raise UnsafeKeyError(f"resume event {token!r}", "bad token")
    return f"{resumes_prefix(job_id)}{token}.json"


def job_id_from_active(key: str) -> str:
    """Inverse of :func:`active_job`."""
    return check_job_id(key[len(ACTIVE_PREFIX) : -len(".json")])


WORKERS_PREFIX = "workers/"


def worker_record(node: str) -> str:
    """A worker's heartbeat record (``node`` is ``host-pid``)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", node).strip("._") or "worker"
    return f"{WORKERS_PREFIX}{safe}.json"


def index_shard(content_hash: str, sampling_id: str, shard_tag: str) -> str:
    """A video's window shard (JSON, immutable): its windows' spans and text, and the keys of its
    vector blocks. ``shard_tag`` names the text source and embedders (``common.index.shard``)."""
    return f"index/shards/{content_hash}/{sampling_id}/{shard_tag}.json"


def index_vectors(content_hash: str, sampling_id: str, embedder_tag: str) -> str:
    """A video's window vectors from one embedder (``.npy``, float16, one row per window)."""
    return f"index/vectors/{content_hash}/{sampling_id}/{embedder_tag}.npy"


def job_recall(job_id: str) -> str:
    """The windows library recall chose for a job's rerank (``RecallPlan``)."""
    return job_prefix(job_id) + "recall.json"


def video_prepared(job_id: str, video_index: int) -> str:
    """Marker written once a video of a recall search is indexed (the recall barrier)."""
    return f"{job_prefix(job_id)}prepared/{video_index:05d}.json"


def video_indexed(job_id: str, video_index: int) -> str:
    """Marker written once a video of a recall search has its shard (the second barrier)."""
    return f"{job_prefix(job_id)}indexed/{video_index:05d}.json"


def indexed_cursor(job_id: str) -> str:
    """How many leading videos the recall step has already seen indexed."""
    return job_prefix(job_id) + "indexed-cursor.json"


def job_indexing(job_id: str) -> str:
    """Marker written once recall asked every video of a search for its shard."""
    return job_prefix(job_id) + "indexing.json"


def prepared_cursor(job_id: str) -> str:
    """How many leading videos the recall step has already seen prepared."""
    return job_prefix(job_id) + "prepared-cursor.json"


def query_vector(job_id: str, embedder_tag: str) -> str:
    """A job's query embedded by one window embedder (``.npy``, float32)."""
    return f"{job_prefix(job_id)}query-vectors/{embedder_tag}.npy"


def transcript(asr_id: str, content_hash: str) -> str:
    """A video content's transcript by one ASR model (``asr_cache_id``), in the work bucket."""
    return check_key(f"transcripts/{asr_id}/{content_hash}.json")

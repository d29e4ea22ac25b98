"""Prometheus metrics of the workers: ``SEGLOCATE_METRICS_PORT`` turns them on (off when unset).

Every process that runs steps records into prometheus-client's multiprocess files (one folder
per ``seglocate worker``, ``PROMETHEUS_MULTIPROC_DIR``, emptied at start), so a prefork pool
reports the totals of all its processes; one process per worker serves them on
``http://HOST:SEGLOCATE_METRICS_PORT/metrics`` (:mod:`workers.metrics.exporter`).

Names follow Prometheus' conventions: a ``seglocate_`` prefix, base units (seconds, bytes) and
``_total`` on counters. Labels: ``step`` (``ingest_video``, ``score_batch`` ...), ``scorer``
(empty for job-level steps), ``outcome`` (:class:`workers.runner.StepOutcome`).

Per process, summed over the processes of a worker (:mod:`workers.metrics.definitions`):

- ``seglocate_steps_total{step,scorer,outcome}``, ``seglocate_step_duration_seconds{step,scorer}``
  (histogram), ``seglocate_steps_in_progress{step,scorer}``;
- ``seglocate_windows_scored_total{scorer}`` (its rate is windows per second),
  ``seglocate_probes_scored_total{scorer}``, ``seglocate_scoring_call_windows{scorer}``
  (histogram: windows per scoring call);
- ``seglocate_reranker_pairs_total``, ``seglocate_reranker_forward_passes_total`` and
  ``seglocate_reranker_tokens_total{kind="prompt"|"padding"}`` (padding waste), by scorer;
- ``seglocate_video_decodes_total``, ``seglocate_frames_decoded_total``,
  ``seglocate_frame_cache_hits_total``, ``seglocate_feature_extractions_total``,
  ``seglocate_feature_frames_total`` and ``seglocate_ocr_frames_total`` (frames sent to OCR);
- ``seglocate_scorer_load_duration_seconds{scorer}`` (histogram: resident model loads);
- ``seglocate_worker_processes{queue,scorer}`` (live processes that run steps).

Read when scraped: ``seglocate_gpu_memory_used_bytes{gpu}`` and
``seglocate_gpu_memory_total_bytes{gpu}`` through NVML where it is present
(:mod:`workers.metrics.gpu`); and, from ONE process of the fleet (a cpu worker holding a
broker lock, :mod:`workers.metrics.fleet`): ``seglocate_queue_messages{queue}``,
``seglocate_queue_unacked_messages``, ``seglocate_windows_waiting{scorer}``,
``seglocate_jobs{state}``, ``seglocate_videos{state}``,
``seglocate_job_windows_waiting{job_id,scorer}``, ``seglocate_job_windows_planned{job_id,scorer}``,
``seglocate_workers{queue}`` and ``seglocate_fleet_refresh_timestamp_seconds``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workers.metrics.definitions import WorkerMetrics

#: This process's metrics once :func:`activate` ran; None while metrics are off.
_active: WorkerMetrics | None = None


def active() -> WorkerMetrics | None:
    """The process's metrics, or None when metrics are off (nothing is recorded then)."""
    return _active


def activate() -> WorkerMetrics:
    """Create this process's metric objects (once). Call only after
    :func:`workers.metrics.multiproc.use_directory`: prometheus-client picks its storage when a
    metric is created."""
    global _active
    if _active is None:
        from workers.metrics.definitions import WorkerMetrics

        _active = WorkerMetrics()
    return _active


def record_scorer_load(scorer: str, seconds: float) -> None:
    """One resident model load of ``seconds``; nothing when metrics are off."""
    metrics = active()
    if metrics is not None:
        metrics.scorer_load.labels(scorer=scorer).observe(seconds)

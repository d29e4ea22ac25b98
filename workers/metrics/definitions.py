"""The metric objects every step-running process records into (see :mod:`workers.metrics`).

Created once per process by :func:`workers.metrics.activate`, after the multiprocess folder is
set, because prometheus-client chooses where a value lives when its metric is created.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

#: Step duration buckets, seconds: a frame-cache hit (ms) up to an OCR pass over a long video.
STEP_SECONDS_BUCKETS = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    1800.0,
)  # fmt: skip
#: Windows per scoring call (a task's batch, or a video's boundary probes).
CALL_WINDOWS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
#: Resident model load buckets, seconds (OCR engines in ms, an 8B reranker in minutes).
LOAD_SECONDS_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

#: Pipeline counter name (``PipelineContext.count``) -> metric attribute, for per-scorer counts.
SCORER_COUNTS = {
    "windows_scored": "windows_scored",
    "probes_scored": "probes_scored",
    "decodes": "video_decodes",
    "frames_decoded": "frames_decoded",
    "frame_cache_hits": "frame_cache_hits",
    "feature_extractions": "feature_extractions",
    "feature_frames": "feature_frames",
    "ocr_frames": "ocr_frames",
    "reranker_pairs": "reranker_pairs",
    "reranker_forward_passes": "reranker_forward_passes",
}


class WorkerMetrics:
    """All per-process metrics, unregistered: the exporter reads them from the folder."""

    def __init__(self) -> None:
        step = ["step", "scorer"]
        self.steps = Counter(
            "seglocate_steps", "Step executions, by step, scorer and outcome.",
            [*step, "outcome"], registry=None,
        )  # fmt: skip
        self.step_duration = Histogram(
            "seglocate_step_duration_seconds", "Seconds one step execution took.", step,
            buckets=STEP_SECONDS_BUCKETS, registry=None,
        )  # fmt: skip
        self.steps_in_progress = Gauge(
            "seglocate_steps_in_progress", "Steps running now.", step,
            multiprocess_mode="livesum", registry=None,
        )  # fmt: skip
        self.windows_scored = self._scorer_counter(
            "windows_scored", "Windows scored and stored (rate: windows per second)."
        )
        self.probes_scored = self._scorer_counter(
            "probes_scored", "One-frame boundary probes scored."
        )
        self.scoring_call_windows = Histogram(
            "seglocate_scoring_call_windows", "Windows per scoring call (batch size).",
            ["scorer"], buckets=CALL_WINDOWS_BUCKETS, registry=None,
        )  # fmt: skip
        self.reranker_pairs = self._scorer_counter(
            "reranker_pairs", "(query, window) pairs the reranker scored."
        )
        self.reranker_forward_passes = self._scorer_counter(
            "reranker_forward_passes", "Reranker forward passes (pairs / passes = batch size)."
        )
        self.reranker_tokens = Counter(
            "seglocate_reranker_tokens",
            "Tokens fed to the reranker: kind=prompt (real) or padding (waste).",
            ["scorer", "kind"], registry=None,
        )  # fmt: skip
        self.video_decodes = self._scorer_counter(
            "video_decodes", "Videos decoded (frame-cache misses)."
        )
        self.frames_decoded = self._scorer_counter(
            "frames_decoded", "Frames sampled from decoded videos."
        )
        self.frame_cache_hits = self._scorer_counter(
            "frame_cache_hits", "Videos whose sampled frames came from the frame cache."
        )
        self.feature_extractions = self._scorer_counter(
            "feature_extractions", "Per-video feature extractions (e.g. OCR passes)."
        )
        self.feature_frames = self._scorer_counter(
            "feature_frames", "Frames seen by per-video feature extraction."
        )
        self.ocr_frames = self._scorer_counter(
            "ocr_frames", "Frames sent to OCR (the others were unchanged since the last one)."
        )
        self.scorer_load = Histogram(
            "seglocate_scorer_load_duration_seconds", "Seconds to build and load a scorer.",
            ["scorer"], buckets=LOAD_SECONDS_BUCKETS, registry=None,
        )  # fmt: skip
        self.worker_processes = Gauge(
            "seglocate_worker_processes", "Live worker processes that run steps.",
            ["queue", "scorer"], multiprocess_mode="livesum", registry=None,
        )  # fmt: skip

    def initialise(self, scorers: list[str]) -> None:
        """Create the per-scorer series at 0 for ``scorers`` (the scorers this process may
        count for), so that they exist before the first event: a query over a series that
        appears only later misses its first increase."""
        for scorer in scorers:
            for attribute in SCORER_COUNTS.values():
                getattr(self, attribute).labels(scorer=scorer)
            for kind in ("prompt", "padding"):
                self.reranker_tokens.labels(scorer=scorer, kind=kind)
            self.scoring_call_windows.labels(scorer=scorer)

    @staticmethod
    def _scorer_counter(name: str, documentation: str) -> Counter:
        return Counter(f"seglocate_{name}", documentation, ["scorer"], registry=None)

    def count(self, name: str, n: int, scorer: str) -> None:
        """Record a pipeline count (:meth:`common.pipeline.PipelineContext.count`)."""
        attribute = SCORER_COUNTS.get(name)
        if attribute is not None:
            getattr(self, attribute).labels(scorer=scorer).inc(n)
        elif name == "reranker_tokens":
            self.reranker_tokens.labels(scorer=scorer, kind="prompt").inc(n)
        elif name == "reranker_padding_tokens":
            self.reranker_tokens.labels(scorer=scorer, kind="padding").inc(n)

    def observe(self, name: str, value: float, scorer: str) -> None:
        """Record a pipeline measurement (:meth:`common.pipeline.PipelineContext.observe`)."""
        if name == "scoring_call_windows":
            self.scoring_call_windows.labels(scorer=scorer).observe(value)

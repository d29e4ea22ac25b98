"""The Python client: submit jobs, watch their progress, read their results.

>>> client = Client()                       # from SEGLOCATE_* settings
>>> job = client.submit(videos=["lecture.mp4"], query="free-body diagram", top_k=3)
>>> result = job.wait(timeout=600, progress=True)
>>> result.clips[0].start, result.clips[0].end, result.clips[0].score

Everything is read from the object store; the client never asks Redis about a job.
"""

from __future__ import annotations

import fnmatch
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from common import keys
from common.errors import (
    BrokerUnavailableError,
    InvalidInputError,
    ObjectNotFoundError,
    QueryError,
    SeglocateError,
)
from common.jobstate import JobStore, failed_job_result
from common.pipeline import TASK_FINALIZE, TASK_INGEST
from common.query_media import check_query_length, decode_query_image, probe_query_clip
from common.recall_option import DEFAULT_RECALL, parse_recall
from common.schemas import (
    JobOptions,
    JobResult,
    JobSpec,
    JobStatus,
    JobTask,
    Query,
    VideoRef,
    VideoRejection,
    VideoTask,
)
from common.scorers import build_scorer, check_scorer_name
from common.scorers.specs import ScorerSpec, scorer_spec
from common.settings import Settings
from common.storage import ObjectStore, open_store
from common.video import content_hash
from producer.dispatch import CeleryDispatcher, Dispatcher, EmbeddedDispatcher
from producer.ingest import remember_content_hash

if TYPE_CHECKING:
    from producer.cover import CoverResult

#: File extensions taken as videos when a folder, prefix or glob is expanded.
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv"}
)


class JobNotFinishedError(SeglocateError):
    """The job has no result yet."""


class JobTimeoutError(SeglocateError):
    """``Job.wait`` ran out of time."""


def new_job_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:8]


class Job:
    """A handle on a submitted job. Safe to recreate from its id: ``client.job(job_id)``."""

    def __init__(self, client: Client, job_id: str, dispatcher: Dispatcher | None = None) -> None:
        self.client = client
        self.job_id = keys.check_job_id(job_id)
        self._dispatcher = dispatcher

    def __repr__(self) -> str:
        return f"Job({self.job_id!r})"

    def result(self) -> JobResult:
        """The result JSON; raises :class:`JobNotFinishedError` while the job runs."""
        found = self.client._read_result(self.job_id)
        if found is None:
            raise JobNotFinishedError(f"job {self.job_id}: not finished yet")
        return found

    def status(self) -> JobStatus:
        """State, windows done / total, and each video's state, from the store."""
        return self.client.jobs.progress(self.job_id)

    def wait(
        self, timeout: float | None = None, progress: bool = False, poll_interval: float = 0.5
    ) -> JobResult:
        """Block until the result is written (``timeout`` seconds, None for ever); optional bar."""
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=0, unit="win", desc=self.job_id, leave=False, disable=None)
        try:
            while True:
                result = self.client._read_result(self.job_id)
                if result is not None:
                    return result
                error = getattr(self._dispatcher, "error", None)
                if error is not None:
                    raise error
                if bar is not None:
                    status = self.status()
                    bar.total = max(status.windows_total, 1)
                    bar.n = status.windows_done
                    finished = sum(v.state.finished for v in status.videos)
                    bar.set_postfix_str(f"videos {finished}/{len(status.videos)}", refresh=False)
                    bar.refresh()
                if deadline is not None and time.monotonic() > deadline:
                    raise JobTimeoutError(f"job {self.job_id}: not finished after {timeout:g}s")
                thread = getattr(self._dispatcher, "thread", None)
                if thread is not None and thread.is_alive():
                    thread.join(poll_interval)  # embedded: wake as soon as the job ends
                else:
                    time.sleep(poll_interval)
        finally:
            if bar is not None:
                bar.close()

    def export(self, fmt: str) -> str:
        """The result in format ``fmt``: ``qvh``, ``vtt``, ``edl`` or ``csv`` (see
        :mod:`producer.exports`); raises :class:`JobNotFinishedError` while the job runs."""
        from producer.exports import export_result

        return export_result(self.result(), fmt)

    def resume(self) -> int:
        """Re-enqueue whatever the stored state says is missing (after a broker loss)."""
        return self.client._resume(self.job_id)

    def cancel(self) -> bool:
        """Stop the job: queued work is skipped, running tasks stop at their next check.

        Returns False, changing nothing, when the job had already finished.
        """
        if self.client._read_result(self.job_id) is not None:
            return False
        self.client.jobs.cancel(self.job_id)
        self.client._dispatch_finalize(self.job_id)
        return True


class Client:
    """Submits jobs and reads their state and results. Embedded unless a broker is configured."""

    def __init__(self, settings: Settings | None = None, store: ObjectStore | None = None) -> None:
        self.settings = settings or Settings()
        self.store = store or open_store(self.settings)
        self.jobs = JobStore(self.store, self.settings.work_bucket, self.settings.results_bucket)

    @property
    def embedded(self) -> bool:
        return self.settings.embedded

    def job(self, job_id: str) -> Job:
        """A handle on an existing job; raises if the store has no such job."""
        handle = Job(self, job_id)
        self.jobs.spec(handle.job_id)
        return handle

    def _read_result(self, job_id: str) -> JobResult | None:
        return self.jobs.result(job_id)

    def _dispatcher(self) -> Dispatcher:
        if self.embedded:
            return EmbeddedDispatcher(self.settings, self.store)
        return CeleryDispatcher(self.settings)

    def _resume(self, job_id: str) -> int:
        from common.pipeline import PipelineContext
        from workers.reconcile import resume_job

        dispatcher = self._dispatcher()
        ctx = PipelineContext(
            settings=self.settings,
            store=self.store,
            enqueue=dispatcher.send,
            scorer_for=lambda name: build_scorer(name, self.settings),
        )
        sent = resume_job(ctx, job_id)
        if isinstance(dispatcher, EmbeddedDispatcher):
            dispatcher.run_here()
        return sent

    def _dispatch_finalize(self, job_id: str) -> None:
        dispatcher = self._dispatcher()
        dispatcher.send(TASK_FINALIZE, JobTask(job_id=job_id))
        if isinstance(dispatcher, EmbeddedDispatcher):
            dispatcher.run_here()

    def submit(
        self,
        videos: Sequence[str | os.PathLike[str]],
        query: str | None = None,
        *,
        query_image: str | os.PathLike[str] | None = None,
        query_video: str | os.PathLike[str] | None = None,
        instruction: str | None = None,
        top_k: int = 5,
        min_score: float | None = None,
        window: float = 5.0,
        stride: float | None = None,
        fps: float = 1.0,
        scorer: str | None = None,
        refine_boundaries: bool = True,
        job_id: str | None = None,
        run_in_background: bool = True,
        frame_pixels: str | None = None,
        recall: int | str = DEFAULT_RECALL,
    ) -> Job:
        """Submit a job and return its handle.

        ``videos`` items are local files or folders (uploaded to the videos bucket, deduplicated
        by content hash), object keys in the videos bucket, or key prefixes (ending in ``/``) and
        globs (``course/*.mp4``) there. Inputs that cannot be found are reported in the result as
        failed videos with the reason; the others are processed. ``frame_pixels`` (default
        ``SEGLOCATE_FRAME_PIXELS``) sets the frame size the qwen3-vl reranker is shown.
        ``recall`` is how many windows the scorer reranks across the whole job, chosen by
        library recall (each video is indexed first, once); ``"all"`` scores every window.
        """
        scorer_name = check_scorer_name(scorer or self.settings.scorer)
        dispatcher = self._dispatcher()
        dispatcher.check()  # before any upload: a broker that is down is one line, at once
        option_values: dict[str, object] = {
            "top_k": top_k,
            "window": window,
            "stride": stride,
            "fps": fps,
            "scorer": scorer_name,
            "refine_boundaries": refine_boundaries,
            "frame_pixels": frame_pixels or self.settings.frame_pixels,
            "recall": parse_recall(recall),
        }
        if min_score is not None:
            option_values["min_score"] = min_score
        options = JobOptions.model_validate(option_values)
        if not self.embedded:
            self._check_some_worker_serves(scorer_name)
        check_query_length(query, instruction, self.settings.max_query_chars)
        job_query = self._build_query(query, query_image, query_video, instruction, scorer_name)
        refs, rejected = self.resolve_videos(videos)
        return self._start(
            job_query, options, refs, rejected, dispatcher, job_id, run_in_background
        )

    def index(
        self,
        videos: Sequence[str | os.PathLike[str]],
        *,
        window: float = 5.0,
        stride: float | None = None,
        fps: float = 1.0,
        scorer: str | None = None,
        frame_pixels: str | None = None,
        job_id: str | None = None,
        run_in_background: bool = True,
    ) -> Job:
        """Index videos for library search, ahead of any query: ingest (frames, speech), the
        text scorer's OCR and each configured embedder's vectors, stored once per (content
        hash, sampling, windowing, models). Later searches with the same scorer, fps and
        windows reuse it all. Inputs as for :meth:`submit`; a job with no video is refused."""
        scorer_name = check_scorer_name(scorer or self.settings.scorer)
        dispatcher = self._dispatcher()
        dispatcher.check()
        options = JobOptions.model_validate(
            {
                "window": window,
                "stride": stride,
                "fps": fps,
                "scorer": scorer_name,
                "frame_pixels": frame_pixels or self.settings.frame_pixels,
                "purpose": "index",
            }
        )
        if not self.embedded:
            self._check_some_worker_serves(scorer_name)
        refs, rejected = self.resolve_videos(videos)
        if not refs:
            reasons = "; ".join(r.error for r in rejected) or "no inputs given"
            raise InvalidInputError("index", f"no videos to index ({reasons})")
        return self._start(None, options, refs, rejected, dispatcher, job_id, run_in_background)

    def _start(
        self,
        job_query: Query | None,
        options: JobOptions,
        refs: list[VideoRef],
        rejected: list[VideoRejection],
        dispatcher: Dispatcher,
        job_id: str | None,
        run_in_background: bool,
    ) -> Job:
        """Write the job's spec and enqueue its videos' first steps."""
        spec = JobSpec(
            job_id=keys.check_job_id(job_id or new_job_id()),
            query=job_query,
            options=options,
            videos=refs,
            rejected=rejected,
        )
        self.jobs.write_spec(spec)
        self.store.put_bytes(
            self.settings.work_bucket, keys.active_job(spec.job_id), b"{}", "application/json"
        )
        try:
            for index in range(len(refs)):
                dispatcher.send(
                    TASK_INGEST,
                    VideoTask(job_id=spec.job_id, video_index=index, scorer=options.scorer),
                )
            if not refs:
                dispatcher.send(TASK_FINALIZE, JobTask(job_id=spec.job_id))
        except BrokerUnavailableError as exc:
            # Never leave a ghost job for a reconciler to run behind the user's back: what was
            # published is skipped (cancelled) and the job ends failed, saying why.
            self.jobs.cancel(spec.job_id)
            error = f"job {spec.job_id}: its tasks could not be enqueued ({exc})"
            self.jobs.write_result(failed_job_result(spec, error))
            raise BrokerUnavailableError(error) from None
        if run_in_background:
            dispatcher.start()
        elif isinstance(dispatcher, EmbeddedDispatcher):
            dispatcher.run_here()
        return Job(self, spec.job_id, dispatcher)

    def cover(
        self,
        video: str | os.PathLike[str],
        title: str,
        top_k: int = 3,
        min_gap: float = 10.0,
        scorer: str | None = None,
        out: str | os.PathLike[str] | None = None,
        *,
        fps: float = 1.0,
        instruction: str | None = None,
        timeout: float | None = None,
        progress: bool = False,
    ) -> CoverResult:
        """The ``top_k`` frames of ``video`` (a local file or an object key) that best fit
        ``title``, no two within ``min_gap`` seconds, written as ``cover-1.jpg``... at the
        video's resolution into ``out`` (default: the current folder).

        Runs a job through the same queue and scorers (each window one sampled frame, every
        frame scored) and waits for it; returns each pick's time, score 0-100 and path
        (:class:`producer.cover.CoverResult`). The text scorer (``ocr``) picks by on-screen
        text; a visual scorer (``qwen3-vl``) picks better-looking frames.
        """
        from producer.cover import cover_frames

        return cover_frames(
            self,
            video,
            title,
            top_k,
            min_gap,
            scorer,
            out,
            fps=fps,
            instruction=instruction,
            timeout=timeout,
            progress=progress,
        )

    def _check_some_worker_serves(self, scorer_name: str) -> None:
        """Fail fast when live gpu workers exist and none serves ``scorer_name``."""
        from common.heartbeat import live_workers

        gpu_workers = [
            w for w in live_workers(self.store, self.settings.work_bucket) if "gpu" in w.queues
        ]
        served = sorted({w.scorer for w in gpu_workers if w.scorer})
        from common.scorers.specs import SCORER_ALIASES

        names = (s.strip() for s in self.settings.autoscaled_scorers.split(","))
        autoscaled = {SCORER_ALIASES.get(name, name) for name in names}
        if gpu_workers and scorer_name not in served and scorer_name not in autoscaled:
            raise InvalidInputError(
                f"scorer {scorer_name!r}",
                f"no live worker serves it (gpu workers serve {', '.join(served)}); "
                f"start one with SEGLOCATE_SCORER={scorer_name}",
            )

    def _build_query(
        self,
        text: str | None,
        image: str | os.PathLike[str] | None,
        video: str | os.PathLike[str] | None,
        instruction: str | None,
        scorer_name: str,
    ) -> Query:
        spec = scorer_spec(scorer_name)
        kinds = {"text": text and text.strip(), "image": image is not None, "video": video}
        spec.check_query_kinds(frozenset(k for k, v in kinds.items() if v))
        image_key = (
            self._upload_query_media(image, "query image", spec) if image is not None else None
        )
        video_key = (
            self._upload_query_media(video, "query video", spec) if video is not None else None
        )
        return Query(text=text, image=image_key, video=video_key, instruction=instruction)

    def _upload_query_media(
        self, source: str | os.PathLike[str], what: str, spec: ScorerSpec
    ) -> str:
        path = Path(source)
        if path.is_file():
            subject = f"{what} {source}"
            if what == "query image":
                decode_query_image(path.read_bytes(), subject)
            else:
                probe_query_clip(path, subject, spec)
            return self._upload(path).key
        key = str(source)
        try:
            keys.check_key(key)
        except InvalidInputError:
            raise QueryError(f"{what} {source}", "file not found") from None
        if self.store.exists(self.settings.videos_bucket, key):
            return key
        raise QueryError(
            f"{what} {source}", "file not found (neither a local file nor an object key)"
        )

    def _upload(self, path: Path) -> VideoRef:
        """Upload a local file to the videos bucket once per content hash."""
        digest = content_hash(path)
        key = keys.upload(digest, path.name)
        bucket = self.settings.videos_bucket
        ref = VideoRef(name=str(path), bucket=bucket, key=key)
        if not self.store.exists(bucket, key):
            self.store.put_file(bucket, key, path)
        remember_content_hash(self.store, self.settings.work_bucket, ref, digest)
        return ref

    def resolve_videos(
        self, videos: Sequence[str | os.PathLike[str]]
    ) -> tuple[list[VideoRef], list[VideoRejection]]:
        """Local files, folders, object keys, prefixes, globs -> video references + rejections."""
        if isinstance(videos, (str, os.PathLike)):
            videos = [videos]
        refs: list[VideoRef] = []
        rejected: list[VideoRejection] = []
        bucket = self.settings.videos_bucket
        for item in videos:
            name = os.fspath(item)
            path = Path(name)
            if name.startswith(("http://", "https://")):
                if self.settings.allow_url_inputs:
                    refs.append(VideoRef(name=name, url=name))
                else:
                    rejected.append(
                        VideoRejection(
                            video=name,
                            error=f"{name}: URL inputs are disabled (SEGLOCATE_ALLOW_URL_INPUTS)",
                        )
                    )
                continue
            if path.is_file():
                upload = self._upload(path)
                refs.append(upload)
                continue
            if path.is_dir():
                files = sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
                )
                if not files:
                    rejected.append(
                        VideoRejection(video=name, error=f"{name}: folder has no video files")
                    )
                refs += [self._upload(p) for p in files]
                continue
            if path.is_absolute():  # a local path, not an object key: say it is missing
                rejected.append(VideoRejection(video=name, error=f"{name}: file not found"))
                continue
            try:
                refs += self._resolve_keys(name, bucket)
            except InvalidInputError as exc:
                rejected.append(VideoRejection(video=name, error=str(exc)))
        return refs, rejected

    def _resolve_keys(self, name: str, bucket: str) -> list[VideoRef]:
        is_glob = any(ch in name for ch in "*?[")
        if not is_glob and not name.endswith("/"):
            keys.check_key(name)
            try:
                self.store.stat(bucket, name)
            except ObjectNotFoundError:
                raise InvalidInputError(
                    name, "file not found (neither a local file nor an object key)"
                ) from None
            return [VideoRef(name=name, bucket=bucket, key=name)]
        literal = name.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
        prefix = literal[: literal.rfind("/") + 1]  # the folder part before any wildcard
        if prefix:
            keys.check_key(prefix.rstrip("/"))
        matched = [
            key
            for key in self.store.list_keys(bucket, prefix)
            if Path(key).suffix.lower() in VIDEO_EXTENSIONS
            and (not is_glob or fnmatch.fnmatchcase(key, name))
        ]
        if not matched:
            raise InvalidInputError(name, f"no video objects match in bucket {bucket}")
        return [VideoRef(name=key, bucket=bucket, key=key) for key in matched]

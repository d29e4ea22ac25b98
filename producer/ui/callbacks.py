"""What the page's events do: submit, watch, cancel, reopen, list. Plain Python on the client.

Each event handler returns (or yields) values for its outputs, in the order :mod:`layout` wires
them. Every failure becomes the one-line message the CLI prints; tracebacks go to the log only.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common.errors import InvalidInputError
from common.recall_option import DEFAULT_RECALL
from common.schemas import JobResult, JobStatus
from common.scorers.specs import scorer_spec
from producer.client import VIDEO_EXTENSIONS, Client, Job, JobTimeoutError
from producer.exports import FORMATS, export_file_name, export_result
from producer.ui import formatting, import_gradio
from producer.ui.routes import thumbnail_url, video_url
from producer.ui.uploads import check_upload_size, check_uploaded_path, upload_dir

log = logging.getLogger(__name__)

#: Seconds between progress updates on the page.
POLL_S = 0.5
#: Recent jobs listed at most.
RECENT_JOBS = 25
#: Objects and prefixes offered from the videos bucket at most.
BUCKET_CHOICES = 500
#: Key of the generated sample lecture in the videos bucket.
SAMPLE_KEY = "samples/physics-lecture.mp4"

#: Outputs of a job view, in order: job id, status, player, clip list, score curves, downloads.
JobView = tuple[Any, Any, Any, Any, Any, Any]


def _skip() -> Any:
    gr = import_gradio()

    return gr.update()


def _poll(job: Job) -> tuple[JobResult | None, JobStatus | None]:
    """The result if the job finishes within :data:`POLL_S`, else its status."""
    try:
        return job.wait(timeout=POLL_S, poll_interval=0.2), None
    except JobTimeoutError:
        return None, job.status()


class PageActions:
    """The page's behaviour on one :class:`Client` (embedded or distributed)."""

    def __init__(self, client: Client, max_upload_mb: int) -> None:
        self.client = client
        self.max_upload_mb = max_upload_mb
        self.downloads_dir = Path(tempfile.mkdtemp(prefix="seglocate-ui-"))

    # --- listing ------------------------------------------------------------------------------

    def bucket_choices(self) -> list[str]:
        """Prefixes (``course/``) and video keys in the videos bucket, sorted."""
        bucket = self.client.settings.videos_bucket
        video_keys = [
            k
            for k in self.client.store.list_keys(bucket)
            if Path(k).suffix.lower() in VIDEO_EXTENSIONS
        ]
        prefixes = {k[: i + 1] for k in video_keys for i, ch in enumerate(k) if ch == "/"}
        prefixes = {p for p in prefixes if not p.startswith("uploads/") or p == "uploads/"}
        return sorted(prefixes | set(video_keys))[:BUCKET_CHOICES]

    def recent_jobs(self) -> list[str]:
        """Labels of the latest jobs (finished ones from the results bucket, then running ones)."""
        settings = self.client.settings
        finished = {
            k.split("/", 1)[0]
            for k in self.client.store.list_keys(settings.results_bucket)
            if k.endswith("/result.json")
        }
        active = {
            k.removeprefix("active/").removesuffix(".json")
            for k in self.client.store.list_keys(settings.work_bucket, "active/")
        }
        labels = []
        for job_id in sorted(finished | active, reverse=True)[:RECENT_JOBS]:
            try:
                result = self.client._read_result(job_id)
                if result is not None:
                    query = result.query_text or "image/clip query"
                    labels.append(formatting.job_choice_label(job_id, result.status.value, query))
                else:
                    spec = self.client.jobs.spec(job_id)
                    query = spec.query_text or "image/clip query"
                    labels.append(formatting.job_choice_label(job_id, "running", query))
            except Exception:  # a half-written job must not break the list
                log.warning("recent jobs: cannot read job %s", job_id, exc_info=True)
        return labels

    def refresh_lists(self) -> tuple[Any, Any]:
        """New choices for the bucket picker and the recent-jobs list."""
        gr = import_gradio()

        try:
            return gr.update(choices=self.bucket_choices()), gr.update(choices=self.recent_jobs())
        except Exception:
            log.exception("listing the store failed")
            return gr.update(), gr.update()

    def _store_sample_lecture(self) -> None:
        bucket = self.client.settings.videos_bucket
        if not self.client.store.exists(bucket, SAMPLE_KEY):
            from producer.sample_lecture import make_lecture

            with tempfile.TemporaryDirectory(prefix="seglocate-sample-") as tmp:
                path = Path(tmp) / "physics-lecture.mp4"
                make_lecture(path)
                self.client.store.put_file(bucket, SAMPLE_KEY, path)

    def sample_lecture(self, query: str | None) -> Iterator[tuple[Any, Any, Any]]:
        """Put the generated sample lecture in the videos bucket (once) and pick it.

        Yields updates for the bucket picker, the query box (a query that finds something,
        when it was empty) and the status line.
        """
        gr = import_gradio()

        skip = _skip()
        yield skip, skip, "Making the sample lecture (about 20 seconds)..."
        try:
            self._store_sample_lecture()
            yield (
                gr.update(choices=self.bucket_choices(), value=[SAMPLE_KEY]),
                gr.update(value=query or "free-body diagram"),
                "Sample lecture picked (2 minutes of physics slides). Press **Find**.",
            )
        except Exception as exc:
            yield skip, skip, self._error_view(exc)[1]

    # --- one job ------------------------------------------------------------------------------

    def _videos(self, uploads: list[str] | None, picks: list[str] | None) -> list[str]:
        """Uploaded files (stored in the videos bucket) and bucket picks -> object keys."""
        videos: list[str] = []
        root = upload_dir()
        for upload in uploads or []:
            path = check_uploaded_path(upload, root)
            check_upload_size(path, self.max_upload_mb, "video")
            refs, rejected = self.client.resolve_videos([path])
            if rejected:
                raise InvalidInputError(path.name, rejected[0].error)
            videos += [ref.key for ref in refs]
        if picks:
            offered = set(self.bucket_choices())
            for pick in picks:
                if pick not in offered:  # never a path on this server
                    raise InvalidInputError(pick, "no such object or prefix in the videos bucket")
                videos.append(pick)
        return videos

    def _query_file(self, value: str | None, label: str) -> Path | None:
        if value is None:
            return None
        path = check_uploaded_path(value, upload_dir())
        check_upload_size(path, self.max_upload_mb, label)
        return path

    def submit(
        self,
        uploads: list[str] | None,
        picks: list[str] | None,
        query: str | None,
        query_image: str | None,
        query_clip: str | None,
        instruction: str | None,
        fps: float,
        window: float,
        stride: float,
        top_k: float,
        min_score: float,
        scorer: str,
        recall: str | int = DEFAULT_RECALL,
    ) -> Job:
        """Check the inputs as the CLI does, then submit the job. ``recall``: windows reranked
        across the job after library recall, or ``all``."""
        image = self._query_file(query_image, "query image")
        clip = self._query_file(query_clip, "query video")
        kinds = {"text": bool(query and query.strip()), "image": image, "video": clip}
        scorer_spec(scorer).check_query_kinds(frozenset(k for k, v in kinds.items() if v))
        videos = self._videos(uploads, picks)
        if not videos:
            raise InvalidInputError(
                "videos", "none chosen (upload a video or pick one from the videos bucket)"
            )
        return self.client.submit(
            videos,
            query or None,
            query_image=image,
            query_video=clip,
            instruction=instruction or None,
            fps=float(fps),
            window=float(window),
            stride=float(stride) if stride else None,
            top_k=int(top_k),
            min_score=float(min_score),
            scorer=scorer,
            recall=recall if isinstance(recall, int) else (recall or "").strip() or DEFAULT_RECALL,
        )

    def find(self, *inputs: Any) -> Iterator[JobView]:
        """Submit from the form's ``inputs`` (see :meth:`submit`), then stream the job's view."""
        skip = _skip()
        # Uploads are hashed and stored first: say so while it happens.
        yield None, "Preparing the job (storing the videos)...", skip, skip, skip, skip
        try:
            job = self.submit(*inputs)
        except Exception as exc:
            yield self._error_view(exc)
            return
        yield from self.watch(job)

    def open_job(self, label: str | None) -> Iterator[JobView]:
        """Reopen a job picked from the recent-jobs list (finished or still running)."""
        if not label:
            yield self._error_view(InvalidInputError("recent jobs", "pick a job first"))
            return
        try:
            job = self.client.job(label.split(" ", 1)[0])
        except Exception as exc:
            yield self._error_view(exc)
            return
        yield from self.watch(job)

    def watch(self, job: Job) -> Iterator[JobView]:
        """Progress updates until the job has a result, then the result."""
        skip = _skip()
        shown = None
        try:
            while True:
                result, status = _poll(job)
                if result is not None:
                    break
                assert status is not None
                text = formatting.status_markdown(status)
                if text != shown:  # the browser gets a message only when progress moved
                    shown = text
                    yield job.job_id, text, skip, skip, skip, skip
            yield self.result_view(result)
        except Exception as exc:
            yield self._error_view(exc, job.job_id)

    def cancel(self, job_id: str | None) -> JobView:
        """Cancel the job on the page; show what it had found."""
        skip = _skip()
        if not job_id:
            return job_id, "Nothing to cancel.", skip, skip, skip, skip
        try:
            job = self.client.job(job_id)
            if not job.cancel():
                return self.result_view(job.result())
            try:
                return self.result_view(job.wait(timeout=10))
            except JobTimeoutError:
                return job_id, f"Cancelling job `{job_id}`...", skip, skip, skip, skip
        except Exception as exc:
            return self._error_view(exc, job_id)

    # --- rendering ----------------------------------------------------------------------------

    def result_view(self, result: JobResult) -> JobView:
        """Summary, player at the best clip, clip list, score curves, download files."""
        index = {ref.name: i for i, ref in enumerate(self.client.jobs.spec(result.job_id).videos)}

        def url_of(video: str) -> str | None:
            i = index.get(video)
            return None if i is None else video_url(result.job_id, i)

        player = formatting.player_html(None)
        if result.clips:
            best = result.clips[0]
            span = formatting.span_text(best.start, best.end)
            caption = f"#1 {formatting.short_name(best.video)} {span}"
            player = formatting.player_html(url_of(best.video), best.start, caption)
        return (
            result.job_id,
            formatting.result_summary(result),
            player,
            formatting.clips_html(result, thumbnail_url, url_of),
            formatting.score_figure(result),
            self.download_files(result),
        )

    def download_files(self, result: JobResult) -> list[str]:
        """The result JSON and every export, as files the page offers for download."""
        folder = self.downloads_dir / result.job_id
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / f"{result.job_id}.json"]
        paths[0].write_text(result.model_dump_json(indent=2), encoding="utf-8")
        for fmt in FORMATS:
            path = folder / export_file_name(result.job_id, fmt)
            path.write_text(export_result(result, fmt), encoding="utf-8")
            paths.append(path)
        return [str(p) for p in paths]

    def _error_view(self, exc: BaseException, job_id: str | None = None) -> JobView:
        if not isinstance(exc, (InvalidInputError,)):
            log.error("page action failed", exc_info=exc)
        message = formatting.error_markdown(formatting.one_line_error(exc))
        skip = _skip()
        return job_id, message, skip, skip, skip, skip

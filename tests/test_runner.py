"""The step runner and its failure policy, fast: the real steps over a local store with the
null scorer, in-process. The same runner and middleware run inside the Celery tasks (the
reliability suite covers real worker processes)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from common import keys
from common.errors import CorruptObjectError, StoreUnavailableError, VideoError
from common.pipeline import (
    TASK_AGGREGATE,
    TASK_FINALIZE,
    TASK_INGEST,
    TASK_PREPARE,
    TASK_SCORE,
)
from common.schemas import JobState, JobTask, VideoState
from common.scorers.null import NullBenchmarkScorer
from common.settings import Settings
from common.storage import LocalObjectStore
from producer.client import Client
from tests import media
from workers import embedded as embedded_module
from workers.attempts import AttemptLog
from workers.embedded import EmbeddedRunner
from workers.middleware import default_middleware
from workers.reconcile import Reconciler
from workers.runner import InvalidMessageError, StepOutcome, StepRunner
from workers.steps import STEPS


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three tiny 6 s clips (160x90, 5 fps): one 6 s window each (the 1 s tail is merged)."""
    folder = tmp_path_factory.mktemp("runner-clips")
    return [media.testsrc_clip(folder / f"clip{i}.mp4", 6, fps=5, size="160x90") for i in range(3)]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "store", max_redeliveries=2, windows_per_task=1)


@pytest.fixture(autouse=True)
def no_backoff_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries run at once here: the backoff itself is unit-tested below."""
    monkeypatch.setattr(embedded_module, "MAX_EMBEDDED_BACKOFF_S", 0.0)


def steps_with(task_name: str, wrap: Callable[[Callable[..., None]], Callable[..., None]]):
    """The pipeline's steps with one step function wrapped by ``wrap``."""
    model, step = STEPS[task_name]
    return {**STEPS, task_name: (model, wrap(step))}


def submit_only(settings: Settings, videos: list[Path], **options: Any):
    """Write the job (spec, active marker) without running it; (client, job id, first steps)."""
    client = Client(settings)
    sent: list[tuple[str, Any]] = []

    class Capture:
        def check(self) -> None: ...
        def send(self, name: str, payload: Any) -> None:
            sent.append((name, payload))

        def start(self) -> None: ...

    client._dispatcher = lambda: Capture()  # type: ignore[method-assign]
    job = client.submit(videos, "anything", scorer="null-benchmark", **options)
    return client, job.job_id, sent


def drive(settings: Settings, store, first: list[tuple[str, Any]], steps=None, scorer=None):
    """Run ``first`` and everything it enqueues through a runner of ``steps``."""
    runner = EmbeddedRunner(settings, store, StepRunner(default_middleware(), steps=steps))
    if scorer is not None:
        runner.ctx.scorer_for = lambda _name: scorer
    for name, payload in first:
        runner.submit(name, payload)
    outcomes: list[tuple[str, StepOutcome]] = []
    original = runner.runner.run

    def record(ctx, task_name, payload, retries=0):
        message = original(ctx, task_name, payload, retries)
        outcomes.append((message.step_id, message.outcome))
        return message

    runner.runner.run = record  # type: ignore[method-assign]
    runner.run()
    return runner, outcomes


def result_of(client: Client, job_id: str):
    result = client.jobs.result(job_id)
    assert result is not None, "the job has no result: it would wait for ever"
    return result


# -- the failure policy ------------------------------------------------------------------------


def test_an_unexpected_error_is_retried_then_fails_only_its_video(settings, clips):
    def flaky(step):
        def run(ctx, task):
            if task.video_index == 1:
                raise RuntimeError("boom")
            step(ctx, task)

        return run

    client, job_id, first = submit_only(settings, clips[:2])
    _runner, outcomes = drive(settings, client.store, first, steps_with(TASK_PREPARE, flaky))
    result = result_of(client, job_id)
    assert result.status == JobState.partial
    bad = result.videos[1]
    assert bad.status == VideoState.failed
    assert bad.error == f"{clips[1]}: prepare_video failed 3 times; last error: RuntimeError: boom"
    tries = [o for step, o in outcomes if step == "prepare_video-00001"]
    assert tries == [StepOutcome.retried, StepOutcome.retried, StepOutcome.failed]
    counts = AttemptLog(client.store, settings.work_bucket, job_id, "prepare_video-00001").counts()
    assert (counts.starts, counts.ends, counts.failures) == (3, 3, 3)
    assert result.videos[0].status == VideoState.succeeded


def test_a_permanent_error_fails_the_video_at_once_with_its_reason(settings, clips):
    def undecodable(step):
        def run(ctx, task):
            raise VideoError("lecture.mp4", "cannot decode video (invalid NAL unit)")

        return run

    client, job_id, first = submit_only(settings, clips[:1])
    _runner, outcomes = drive(settings, client.store, first, steps_with(TASK_INGEST, undecodable))
    result = result_of(client, job_id)
    assert result.status == JobState.failed
    assert result.videos[0].error == "lecture.mp4: cannot decode video (invalid NAL unit)"
    assert [o for s, o in outcomes if s.startswith("ingest")] == [StepOutcome.failed]
    status = client.job(job_id).status()
    assert status.videos[0].error == "lecture.mp4: cannot decode video (invalid NAL unit)"


def test_a_memory_error_fails_the_video_and_the_runner_goes_on(settings, clips):
    def greedy(step):
        def run(ctx, task):
            if task.video_index == 0:
                raise MemoryError
            step(ctx, task)

        return run

    client, job_id, first = submit_only(settings, clips[:2])
    drive(settings, client.store, first, steps_with(TASK_INGEST, greedy))
    result = result_of(client, job_id)
    assert result.videos[0].error == f"{clips[0]}: out of memory (MemoryError)"
    assert result.videos[1].status == VideoState.succeeded


def test_a_transient_error_is_retried_and_the_job_succeeds(settings, clips):
    failures = {"left": 2}

    def outage(step):
        def run(ctx, task):
            if failures["left"]:
                failures["left"] -= 1
                raise StoreUnavailableError("S3 server http://127.0.0.1:1 unreachable")
            step(ctx, task)

        return run

    client, job_id, first = submit_only(settings, clips[:1])
    _runner, outcomes = drive(settings, client.store, first, steps_with(TASK_AGGREGATE, outage))
    assert result_of(client, job_id).status == JobState.succeeded
    tries = [o for s, o in outcomes if s.startswith("aggregate")]
    assert tries[:3] == [StepOutcome.retried, StepOutcome.retried, StepOutcome.ok]
    counts = AttemptLog(client.store, settings.work_bucket, job_id, "aggregate_video-00000")
    assert counts.counts().failures == 0, "transient errors within the budget are not failures"


class NaNScorer(NullBenchmarkScorer):
    def score_windows(self, query, windows, features):
        return [math.nan for _ in windows]


def test_a_non_finite_score_fails_the_video(settings, clips):
    client, job_id, first = submit_only(settings, clips[:1])
    drive(settings, client.store, first, scorer=NaNScorer())
    result = result_of(client, job_id)
    assert result.videos[0].status == VideoState.failed
    assert (
        result.videos[0].error == f"{clips[0]}: scorer null-benchmark: returned a non-finite score"
    )


def test_backoff_grows_exponentially_and_is_capped() -> None:
    from workers.middleware.failure_policy import BACKOFF_MAX_S, backoff_s

    for retries, ceiling in [(0, 1.0), (1, 2.0), (3, 8.0), (10, BACKOFF_MAX_S)]:
        delays = [backoff_s(retries) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (retries, min(delays))


# -- deaths, attempts, poison ----------------------------------------------------------------


def test_deaths_are_starts_without_ends_and_give_up_the_video(settings, clips):
    client, job_id, first = submit_only(settings, clips[:1])
    attempts = AttemptLog(client.store, settings.work_bucket, job_id, "ingest_video-00000")
    for _ in range(3):  # three executions whose worker died (started, never ended)
        attempts.record("start")
    drive(settings, client.store, first)
    result = result_of(client, job_id)
    assert result.videos[0].error == (
        f"{clips[0]}: a worker died 3 times running seglocate.ingest_video on it; "
        "giving up (poison message)"
    )


def test_attempt_counts_never_go_backwards_under_concurrent_writers(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    store.ensure_bucket("work")
    log = AttemptLog(store, "work", "job-1", "score_batch-00000-00001")

    def worker() -> None:
        for _ in range(25):
            log.record("end", log.record("start"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = log.counts()
    assert (counts.starts, counts.ends, counts.deaths) == (200, 200, 0)


def test_a_crafted_message_is_refused_and_an_unknown_video_fails_nothing(settings, clips):
    runner = StepRunner(default_middleware())
    with pytest.raises(InvalidMessageError, match="unknown task"):
        runner.message("seglocate.rm_rf", {"job_id": "x"})
    with pytest.raises(InvalidMessageError, match="invalid payload"):
        runner.message(TASK_SCORE, {"job_id": "../../etc", "video_index": -1})
    client, job_id, first = submit_only(settings, clips[:1])
    crafted = (TASK_INGEST, first[0][1].model_copy(update={"video_index": 7}))
    _runner, outcomes = drive(settings, client.store, [crafted, *first])
    assert ("ingest_video-00007", StepOutcome.failed) in outcomes
    assert result_of(client, job_id).status == JobState.succeeded


# -- corrupt objects -------------------------------------------------------------------------


def corrupt_chunks(store, bucket: str) -> list[str]:
    chunks = [k for k in store.list_keys(bucket, "frames/") if k.endswith(".tar")]
    for key in chunks:
        store.put_bytes(bucket, key, b"\x00garbage" * 10)
    return chunks


def test_a_corrupt_frame_chunk_is_rebuilt_and_later_jobs_do_not_hang(settings, clips):
    client, job_id, first = submit_only(settings, clips[:1])
    drive(settings, client.store, first)
    assert result_of(client, job_id).status == JobState.succeeded
    assert corrupt_chunks(client.store, settings.work_bucket)
    client, job_id, first = submit_only(settings, clips[:1])
    runner, outcomes = drive(settings, client.store, first)
    result = result_of(client, job_id)
    assert result.status == JobState.succeeded, result.videos[0].error
    assert ("aggregate_video-00000", StepOutcome.rebuilt) in outcomes
    assert runner.ctx.counters["decodes"] == 1, "the frames were sampled again"
    assert result.videos[0].clips[0].thumbnail


def test_a_chunk_that_is_corrupt_again_after_its_rebuild_fails_the_video(settings, clips):
    def corrupting(step):
        def run(ctx, task):
            step(ctx, task)
            corrupt_chunks(ctx.store, ctx.settings.work_bucket)

        return run

    client, job_id, first = submit_only(settings, clips[:1])
    drive(settings, client.store, first, steps_with(TASK_INGEST, corrupting))
    result = result_of(client, job_id)
    assert result.videos[0].status == VideoState.failed
    assert "corrupt object" in result.videos[0].error
    assert "rebuilt once already" in result.videos[0].error


def test_corrupt_batch_scores_are_deleted_and_scored_again(settings, clips):
    done = set()

    def corrupting(step):
        def run(ctx, task):
            step(ctx, task)
            key = keys.batch_scores(task.job_id, task.video_index, task.batch_index)
            if key not in done:
                done.add(key)
                ctx.store.put_bytes(ctx.settings.work_bucket, key, b'{"job_id": ')

        return run

    client, job_id, first = submit_only(settings, clips[:1])
    _runner, outcomes = drive(settings, client.store, first, steps_with(TASK_SCORE, corrupting))
    result = result_of(client, job_id)
    assert result.status == JobState.succeeded
    assert [(w.start, w.end, w.score) for w in result.videos[0].windows] == [(0.0, 6.0, 50.0)]
    assert any(o == StepOutcome.rebuilt for _s, o in outcomes)


def test_a_corrupt_result_names_its_object_and_resume_rebuilds_it(settings, clips):
    client = Client(settings)
    job = client.submit(clips[:2], "x", scorer="null-benchmark", run_in_background=False)
    before = job.result()
    key = keys.result_json(job.job_id)
    client.store.put_bytes(settings.results_bucket, key, b"{ truncated")
    with pytest.raises(CorruptObjectError, match=f"{settings.results_bucket}/{key}: corrupt"):
        job.result()
    assert job.resume() > 0
    after = job.result()
    assert after.model_dump(exclude={"finished_at"}) == before.model_dump(exclude={"finished_at"})


# -- fan-in, idempotency, cancellation --------------------------------------------------------


class CountingStore(LocalObjectStore):
    """A real local store that counts its read calls (get, exists, stat, list)."""

    reads = 0

    def get_bytes(self, bucket, key):
        CountingStore.reads += 1
        return super().get_bytes(bucket, key)

    def exists(self, bucket, key):
        CountingStore.reads += 1
        return super().exists(bucket, key)

    def list_keys(self, bucket, prefix=""):
        CountingStore.reads += 1
        return super().list_keys(bucket, prefix)


def test_finalize_costs_o1_reads_per_video_and_writes_the_result_once(tmp_path, clips):
    """Regression: each finished video re-read every video and rewrote result.json (a
    300-video job spent 711 s finalizing)."""
    from common.jobstate import job_store
    from common.pipeline import PipelineContext
    from common.schemas import JobOptions, JobSpec, Query, VideoRecord, VideoRef
    from workers.finalize import finalize_job

    settings = Settings(data_dir=tmp_path / "store")
    store = CountingStore(settings.data_dir)
    for bucket in (settings.work_bucket, settings.results_bucket):
        store.ensure_bucket(bucket)
    n = 300
    spec = JobSpec(
        job_id="fan-in",
        query=Query(text="x"),
        options=JobOptions(scorer="null-benchmark"),
        videos=[VideoRef(name=f"v{i}.mp4", bucket="videos", key=f"v{i}.mp4") for i in range(n)],
    )
    sent: list[str] = []
    ctx = PipelineContext(settings, store, lambda name, p: sent.append(name), lambda n: None)
    jobs = job_store(ctx)
    jobs.write_spec(spec)
    order = list(range(n))
    order[0], order[-1] = order[-1], order[0]  # video 0 finishes last
    CountingStore.reads = 0
    for index in order:
        jobs.finish(spec.job_id, VideoRecord(video_index=index, video=f"v{index}.mp4",
                                             status=VideoState.failed, error="x"))  # fmt: skip
        finalize_job(ctx, JobTask(job_id=spec.job_id))
    reads_per_video = CountingStore.reads / n
    print(f"finalize: {reads_per_video:.1f} store reads per video")
    assert reads_per_video < 12
    result = jobs.result(spec.job_id)
    assert result is not None and len(result.videos) == n


def test_every_step_is_idempotent(settings, clips):
    client, job_id, first = submit_only(settings, clips[:2])
    drive(settings, client.store, first)
    before = result_of(client, job_id)
    work = settings.work_bucket
    scores = {k: client.store.get_bytes(work, k) for k in client.store.list_keys(work, "jobs/")
              if "/scores/" in k}  # fmt: skip
    # Deliver every kind of step of every video again, as a redelivery would.
    again = []
    for index in range(2):
        task = first[index][1]
        again += [(name, task) for name in (TASK_INGEST, TASK_PREPARE, TASK_AGGREGATE)]
        again.append((TASK_SCORE, task.model_dump() | {"batch_index": 0}))
    again.append((TASK_FINALIZE, JobTask(job_id=job_id)))
    drive(settings, client.store, again)
    after = result_of(client, job_id)
    assert after == before
    assert {k: client.store.get_bytes(work, k) for k in scores} == scores


def test_cancelling_skips_queued_steps_and_keeps_what_was_scored(settings, clips):
    client, job_id, first = submit_only(settings, clips[:3])
    scored = []

    def cancelling(step):
        def run(ctx, task):
            step(ctx, task)
            scored.append(task.video_index)
            if len(scored) == 2:
                client.job(job_id).cancel()

        return run

    _runner, outcomes = drive(settings, client.store, first, steps_with(TASK_SCORE, cancelling))
    result = result_of(client, job_id)
    assert result.status == JobState.cancelled
    assert any(o == StepOutcome.skipped for _s, o in outcomes)
    kept = sum(len(v.windows) for v in result.videos)
    assert kept == 2, [len(v.windows) for v in result.videos]
    assert {v.status for v in result.videos} == {VideoState.cancelled}


# -- the reconciler ----------------------------------------------------------------------------


def test_a_job_that_resuming_does_not_move_is_failed_after_max_resumes(settings, clips):
    settings = settings.model_copy(update={"max_resumes": 2, "reconcile_stale_s": 1.0})

    def wedged(step):
        def run(ctx, task):
            return None  # returns without progress, for ever

        return run

    client, job_id, first = submit_only(settings, clips[:1])
    runner, _ = drive(settings, client.store, first, steps_with(TASK_PREPARE, wedged))
    assert client.jobs.result(job_id) is None
    reconciler = Reconciler(runner.ctx, broker_is_idle=lambda: True)
    handled = []
    for tick in range(10):
        handled += reconciler.check_once(now=tick * 2.0)
        runner.run()
        if client.jobs.result(job_id) is not None:
            break
    result = result_of(client, job_id)
    assert handled == [job_id] * 3  # two resumes, then the give-up
    assert result.videos[0].error == (
        f"{clips[0]}: stalled: no progress after 2 resumes of the job"
    )

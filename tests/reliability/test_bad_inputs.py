"""Bad and awkward inputs through the distributed path (client -> Redis -> celery workers -> S3).

Bad videos are reported one by one with the reason while the rest of the job finishes; bad
queries and parameters are refused at submit with one clear line; valid but awkward videos
(8K frames, three hours long, variable frame rate, rotated, shorter than a window) simply work
with correct timestamps. Embedded-mode coverage of the same reasons is in tests/test_video.py
and tests/test_embedded.py.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from common import keys
from common.errors import QueryError
from common.frames import read_manifest
from common.schemas import JobState, VideoRecord, VideoState
from common.storage import read_model
from infra.services import RedisServer
from producer.client import Client
from tests import media
from tests.cluster import wait_until
from tests.reliability.conftest import (
    BASE_SETTINGS,
    ReliabilityCluster,
    assert_every_window_once,
    child_pids,
    peak_rss_bytes,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster(s3_server, tmp_path_factory):
    """Workers are started by each test (see :func:`running`), so a test may stage first."""
    with RedisServer(tmp_path_factory.mktemp("redis-bad-inputs")) as redis:
        cluster = ReliabilityCluster(
            redis.url,
            s3_server,
            tmp_path_factory.mktemp("cluster-bad-inputs"),
            **{**BASE_SETTINGS, "windows_per_task": 8},
        )
        try:
            yield cluster
        finally:
            cluster.stop()


def running(cluster: ReliabilityCluster) -> ReliabilityCluster:
    """Start a cpu and a gpu worker unless they run; wait until both are consuming."""
    if len(cluster.workers) == 2 and all(w.alive() for w in cluster.workers):
        return cluster
    cluster.stop()
    for queues, concurrency in (("cpu", 2), ("gpu", 1)):
        log = cluster.workdir / f"worker-{len(cluster.workers)}-{queues}.log"
        offset = log.stat().st_size if log.exists() else 0  # logs of restarted workers append
        worker = cluster.start_worker(queues, concurrency=concurrency)
        assert worker.log_path == log

        def ready(path: Path = log, start: int = offset) -> bool:
            with open(path, "rb") as handle:
                handle.seek(start)
                return b" ready." in handle.read()

        wait_until(ready, 60, what=f"{queues} worker ready")
    return cluster


def undecodable_codec(path: Path, source: Path) -> Path:
    """An MP4 whose video sample entry claims codec 'zzzz': probes fine, no decoder exists."""
    path.write_bytes(source.read_bytes().replace(b"avc1", b"zzzz"))
    return path


def noise_payload(path: Path, source: Path) -> Path:
    """A valid MP4 container (index, sizes, durations) whose H.264 payload is random bytes."""
    data = source.read_bytes()
    at = data.find(b"mdat")
    size = struct.unpack(">I", data[at - 4 : at])[0]
    noise = random.Random(7).randbytes(size - 8)
    path.write_bytes(data[: at + 4] + noise + data[at - 4 + size :])
    return path


#: file name -> words the per-video error must contain.
BAD_VIDEO_REASONS = {
    "notes.mp4": "not a video file",
    "empty.mp4": "empty file (0 bytes)",
    "truncated.mp4": "truncated",
    "podcast.m4a": "audio only",
    "zero.mp4": "zero-length video",
    "codec-zzzz.mp4": "unknown video codec (tag 'zzzz'): no decoder for it",
    "noise.mp4": "cannot decode video",
}


def test_each_bad_video_is_reported_with_its_reason_and_the_rest_finishes(cluster, tmp_path):
    cluster.stop()  # stage the job first: one object vanishes between submit and ingest
    good = media.testsrc_clip(tmp_path / "good.mp4", 12, fps=5, size="160x90")
    source = media.testsrc_clip(tmp_path / "source.mp4", 6, fps=5, size="160x90")
    files = {
        "notes.mp4": media.not_a_video(tmp_path / "notes.mp4"),
        "empty.mp4": media.empty_file(tmp_path / "empty.mp4"),
        "truncated.mp4": media.truncated(tmp_path / "truncated.mp4", source),
        "podcast.m4a": media.audio_only(tmp_path / "podcast.m4a"),
        "zero.mp4": media.zero_length(tmp_path / "zero.mp4"),
        "codec-zzzz.mp4": undecodable_codec(tmp_path / "codec-zzzz.mp4", source),
        "noise.mp4": noise_payload(tmp_path / "noise.mp4", source),
    }
    store = cluster.store()
    settings = cluster.settings
    store.put_file(settings.videos_bucket, "lib/vanishing.mp4", source)
    unsafe = ["../outside.mp4", "lib/../../outside.mp4", "https://example.com/v.mp4"]
    never_there = str(tmp_path / "never-there.mp4")
    job = Client(settings).submit(
        [good, *files.values(), "lib/vanishing.mp4", never_there, *unsafe],
        "x",
        scorer="null-benchmark",
        window=2,
    )
    store.delete(settings.videos_bucket, "lib/vanishing.mp4")
    running(cluster)
    result = cluster.wait_result(job.job_id, timeout=120)

    by_name = {v.video: v for v in result.videos}
    assert result.status == JobState.partial
    assert_every_window_once(by_name[str(good)], 6)
    assert len(result.videos) == 1 + len(files) + 2 + len(unsafe)
    for name, reason in BAD_VIDEO_REASONS.items():
        video = by_name[str(files[name])]
        print(f"{name}: {video.error}")
        assert video.status == VideoState.failed
        assert video.error.startswith(f"{files[name]}: ") and reason in video.error
        assert "\n" not in video.error and not video.windows
    gone = by_name["lib/vanishing.mp4"]
    assert gone.status == VideoState.failed and "no such object" in gone.error
    assert "file not found" in by_name[never_there].error
    for name in unsafe[:2]:
        assert "'.', '..' and empty path segments are not allowed" in by_name[name].error
    assert "URL inputs are disabled" in by_name[unsafe[2]].error
    assert [c.video for c in result.clips] == [str(good)]


def test_an_unreadable_query_image_fails_each_video_with_the_reason(cluster, tmp_path):
    running(cluster)
    # An object key skips the client's local check: the workers must catch it themselves.
    cluster.store().put_bytes(cluster.settings.videos_bucket, "queries/cat.png", b"not an image\n")
    clip = media.testsrc_clip(tmp_path / "clip.mp4", 4, fps=5, size="160x90")
    job = Client(cluster.settings).submit(
        [clip], query_image="queries/cat.png", scorer="null-benchmark"
    )
    result = cluster.wait_result(job.job_id, timeout=60)
    assert result.status == JobState.failed
    (video,) = result.videos
    assert video.status == VideoState.failed
    assert video.error.startswith("query image queries/cat.png: not a readable image")


def test_a_decompression_bomb_query_image_fails_each_video_instead_of_wedging_the_job(
    cluster, tmp_path
):
    running(cluster)
    bomb = media.png_bomb(tmp_path / "bomb.png")  # 30000x30000 declared, 110 KB on disk
    cluster.store().put_file(cluster.settings.videos_bucket, "queries/bomb.png", bomb)
    clip = media.testsrc_clip(tmp_path / "clip.mp4", 4, fps=5, size="160x90")
    job = Client(cluster.settings).submit(
        [clip], query_image="queries/bomb.png", scorer="null-benchmark"
    )
    result = cluster.wait_result(job.job_id, timeout=60)
    assert result.status == JobState.failed
    (video,) = result.videos
    assert video.status == VideoState.failed
    assert video.error.startswith(
        "query image queries/bomb.png: too large to decode (900,000,000 pixels)"
    )


def test_an_empty_query_is_refused_at_submit_and_nothing_is_queued(cluster, tmp_path):
    clip = media.testsrc_clip(tmp_path / "clip.mp4", 2, fps=5, size="160x90")
    store = cluster.store()
    before = set(store.list_keys(cluster.settings.work_bucket, "jobs/"))
    with pytest.raises(QueryError, match="query: empty"):
        Client(cluster.settings).submit([clip], "   ", scorer="null-benchmark")
    assert set(store.list_keys(cluster.settings.work_bucket, "jobs/")) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--query", " "], "query: empty (give a text, an image or a video clip)"),
        (["--query", "x", "--fps", "-1"], "fps: Input should be greater than 0"),
        (["--query", "x", "--window", "0"], "window: Input should be greater than 0"),
        (["--query", "x", "--window", "2", "--stride", "3"], "stride 3s is larger than window 2s"),
        (["--query", "x", "--scorer", "nope"], "scorer 'nope': unknown"),
    ],
)
def test_seglocate_submit_refuses_bad_queries_and_parameters_in_one_line(
    cluster, short_videos, args, message
):
    proc = cluster.cli("submit", str(short_videos[0]), *args)
    assert proc.returncode == 2, proc.stdout
    assert message in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def record_of(cluster, job_id: str, index: int) -> VideoRecord:
    return read_model(
        cluster.store(), cluster.settings.work_bucket, keys.video_state(job_id, index), VideoRecord
    )


def test_awkward_but_valid_videos_work_with_correct_timestamps(cluster, tmp_path):
    running(cluster)
    videos = [
        media.testsrc_clip(tmp_path / "8k.mp4", 2, fps=2, size="7680x4320"),
        media.vfr_clip(tmp_path / "vfr.mp4"),  # red 0-3 s at 30 fps, blue 3-8 s at 2 fps
        media.rotated_clip(tmp_path / "rotated.mp4", 4),
        media.testsrc_clip(tmp_path / "short.mp4", 1.5, fps=10, size="160x90"),
    ]
    job = Client(cluster.settings).submit(videos, "x", scorer="null-benchmark", window=2, fps=1)
    result = cluster.wait_result(job.job_id, timeout=120)
    assert result.status == JobState.succeeded, [v.error for v in result.videos]
    by_name = {v.video: v for v in result.videos}
    assert_every_window_once(by_name[str(videos[0])], 1)
    assert_every_window_once(by_name[str(videos[1])], 4)
    assert_every_window_once(by_name[str(videos[2])], 2)
    short = by_name[str(videos[3])]
    assert_every_window_once(short, 1)
    assert (short.windows[0].start, short.windows[0].end) == (0.0, pytest.approx(1.5))

    store, work = cluster.store(), cluster.settings.work_bucket
    manifests = []
    for index in range(len(videos)):
        record = record_of(cluster, job.job_id, index)
        manifests.append(read_manifest(store, work, record.content_hash, record.sampling_id))
    big, vfr, rotated, _short = manifests
    assert (big.probe.width, big.probe.height) == (7680, 4320)
    assert big.width * big.height <= big.max_pixels and big.width > big.height
    assert vfr.frame_times == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    # The muxer gives the last 2 fps frame (at 7.5 s) no duration: the container lasts 7.5 s.
    spans = [(w.start, w.end) for w in by_name[str(videos[1])].windows]
    assert spans == [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0), (6.0, pytest.approx(7.5, abs=0.01))]
    assert rotated.probe.rotation in (90, 270) and rotated.width < rotated.height


def test_a_three_hour_video_is_sampled_in_bounded_memory(cluster, tmp_path):
    running(cluster)
    long = media.testsrc_clip(tmp_path / "3h.mp4", 3 * 3600, fps=0.2, size="160x90")
    cpu = next(w for w in cluster.workers if w.queues == "cpu")
    job = Client(cluster.settings).submit(
        [long], "x", scorer="null-benchmark", fps=0.05, window=120
    )
    result = cluster.wait_result(job.job_id, timeout=180)
    assert result.status == JobState.succeeded, result.videos[0].error
    (video,) = result.videos
    assert video.duration == pytest.approx(10800, abs=1)
    assert_every_window_once(video, 90)
    assert [w.start for w in video.windows] == [120.0 * k for k in range(90)]
    record = record_of(cluster, job.job_id, 0)
    store, work = cluster.store(), cluster.settings.work_bucket
    manifest = read_manifest(store, work, record.content_hash, record.sampling_id)
    assert len(manifest.frame_times) == 540
    assert manifest.frame_times[:3] == [0.0, 20.0, 40.0] and manifest.frame_times[-1] == 10780.0
    peaks = [peak_rss_bytes(pid) for pid in child_pids(cpu.pid)]
    print(f"cpu pool processes' peak RSS: {[p >> 20 for p in peaks]} MiB")
    assert peaks and max(peaks) < 400 << 20

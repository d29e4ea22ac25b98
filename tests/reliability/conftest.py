"""Shared pieces of the reliability suite: private clusters, tiny media, result checks.

Every test gets its own ``redis-server`` (queue names are global to a Redis, so a test's left-over
messages must never reach another test's workers) and, unless it takes the store down, the
session's SeaweedFS with private buckets. Workers are real ``celery worker`` process groups.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from common import keys
from common.schemas import BatchScores, VideoResult, VideoState
from common.storage import ObjectStore, open_store, read_model
from tests import media
from tests.cluster import REPO_ROOT, Cluster

#: Settings every reliability cluster starts from (a test overrides what it exercises).
BASE_SETTINGS: dict[str, object] = {
    "scorer": "null-benchmark",
    "windows_per_task": 2,
    "log_format": "text",
}


class ReliabilityCluster(Cluster):
    """A :class:`Cluster` with the helpers these tests share."""

    def store(self) -> ObjectStore:
        """The test's own view of the store: patient (120 s) through an outage it causes."""
        return open_store(self.settings.model_copy(update={"s3_retry_window_s": 120.0}))

    def batch_etags(self, job_id: str) -> dict[str, str]:
        """Every stored batch-score object of the job -> its etag."""
        store = self.store()
        work = self.settings.work_bucket
        return {
            key: store.stat(work, key).etag
            for key in store.list_keys(work, keys.job_prefix(job_id) + "videos/")
            if "/scores/" in key
        }

    def full_logs(self) -> str:
        """Every worker log of this cluster, whole."""
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.workdir.glob("worker-*.log"))
        )

    def cli(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run ``seglocate ARGS`` with this cluster's settings (as a user would)."""
        return subprocess.run(
            [sys.executable, "-m", "producer.cli", *args],
            env={**self.env, "PYTHONPATH": str(REPO_ROOT)},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture
def make_cluster(tmp_path: Path, s3_server) -> Iterator[Callable[..., ReliabilityCluster]]:
    """``make_cluster(redis_url, s3=None, **settings)``: a cluster whose workers stop at the end."""
    made: list[ReliabilityCluster] = []

    def make(redis_url: str, s3=None, **overrides: object) -> ReliabilityCluster:
        workdir = tmp_path / f"cluster-{len(made)}"
        workdir.mkdir()
        cluster = ReliabilityCluster(
            redis_url, s3 or s3_server, workdir, **{**BASE_SETTINGS, **overrides}
        )
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.stop()


@pytest.fixture
def redis(redis_server_factory):
    """A private redis-server for this test only."""
    return redis_server_factory()


@pytest.fixture(scope="session")
def rel_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reliability-media")


@pytest.fixture(scope="session")
def long_video(rel_media: Path) -> Path:
    """500 s at 1 fps, 160x90: 100 windows of 5 s, generated in well under a second."""
    return media.testsrc_clip(rel_media / "long-500s.mp4", 500, fps=1, size="160x90")


@pytest.fixture(scope="session")
def short_videos(rel_media: Path) -> list[Path]:
    """Three distinct 60 s clips (12 windows of 5 s each)."""
    return [
        media.colour_clip(rel_media / f"clip-{colour}.mp4", colour, 60, fps=2)
        for colour in ("red", "green", "blue")
    ]


def assert_every_window_once(video: VideoResult, expected: int) -> None:
    """The saliency curve holds each planned window exactly once, in order."""
    assert video.status == VideoState.succeeded, video.error
    starts = [w.start for w in video.windows]
    assert len(video.windows) == expected
    assert all(a < b for a, b in itertools.pairwise(starts)), "starts not increasing"
    assert len(set(starts)) == len(starts)
    assert starts[0] == 0.0
    assert video.duration is not None and video.windows[-1].end == pytest.approx(video.duration)


def stored_batches(cluster: ReliabilityCluster, job_id: str) -> dict[str, BatchScores]:
    store = cluster.store()
    work = cluster.settings.work_bucket
    return {
        key: read_model(store, work, key, BatchScores)
        for key in store.list_keys(work, keys.job_prefix(job_id) + "videos/")
        if "/scores/" in key
    }


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (prefork pool processes of a worker)."""
    with contextlib.suppress(OSError):
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(p) for p in text.split()]
    return []


def peak_rss_bytes(pid: int) -> int:
    """VmHWM: the most resident memory ``pid`` ever used (0 when unknown)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def env_without_seglocate() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SEGLOCATE_")}

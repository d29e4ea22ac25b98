"""The qwen3-vl scorer inside the pipeline: embedded and on a real gpu-queue worker.

The model is the tiny random Qwen3-VL, loaded through the same ``from_pretrained`` path as the
real weights (``SEGLOCATE_MODEL`` = a local directory).
"""

from __future__ import annotations

import re
import time

import pytest
from PIL import Image

from common.errors import QueryError
from common.frames import FrameManifest
from common.heartbeat import live_workers
from common.schemas import JobState
from common.settings import Settings
from producer.client import Client
from tests import media
from tests.cluster import Cluster

pytestmark = pytest.mark.slow


@pytest.fixture
def qwen_settings(tmp_path, qwen_tiny_dir) -> Settings:
    return Settings(
        data_dir=tmp_path / "store", broker_url=None, s3_endpoint=None,
        scorer="qwen3-vl", model=str(qwen_tiny_dir),
    )  # fmt: skip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return media.testsrc_clip(tmp_path_factory.mktemp("qclip") / "clip.mp4", 12, size="320x180")


def test_a_text_query_is_scored_by_the_reranker_with_its_model_recorded(
    qwen_settings, clip, qwen_tiny_dir
):
    result = (
        Client(qwen_settings)
        .submit([clip], "a colourful test pattern", scorer="qwen3-vl")
        .wait(timeout=300)
    )
    assert result.status == JobState.succeeded
    assert result.scorer.name == "qwen3-vl" and result.scorer.model_id == str(qwen_tiny_dir)
    windows = result.videos[0].windows
    assert [(w.start, w.end) for w in windows] == [(0.0, 5.0), (5.0, 12.0)]
    assert all(0.0 < w.score < 100.0 for w in windows)


def test_image_video_and_text_plus_image_queries_run_through_the_pipeline(
    qwen_settings, clip, tmp_path
):
    image = tmp_path / "query.png"
    Image.new("RGB", (96, 64), "orange").save(image)
    query_clip = media.testsrc_clip(tmp_path / "q.mp4", 3, size="160x90")
    client = Client(qwen_settings)
    for kwargs in (
        {"query_image": image},
        {"query_video": query_clip},
        {"query": "orange", "query_image": image},
    ):
        result = client.submit([clip], scorer="qwen3-vl", **kwargs).wait(timeout=300)
        assert result.status == JobState.succeeded, (kwargs, result.videos[0].error)
        assert result.videos[0].windows


def test_unreadable_or_too_long_query_media_is_refused_at_submit(qwen_settings, clip, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    long_clip = media.testsrc_clip(tmp_path / "long.mp4", 65, fps=2, size="160x90")
    client = Client(qwen_settings)
    with pytest.raises(QueryError, match=re.escape(f"query image {bad}: not a readable image")):
        client.submit([clip], query_image=bad, scorer="qwen3-vl")
    with pytest.raises(QueryError, match=re.escape("65.0s long; query clips are at most 64s")):
        client.submit([clip], query_video=long_clip, scorer="qwen3-vl")


@pytest.mark.integration
def test_a_gpu_worker_serves_qwen3_vl_from_a_local_model_directory(
    redis_server, s3_server, tmp_path, qwen_tiny_dir, clip, qwen_settings
):
    cluster = Cluster(
        redis_server.url, s3_server, tmp_path, scorer="qwen3-vl", model=str(qwen_tiny_dir)
    )
    try:
        cluster.start_worker("cpu")
        cluster.start_worker("gpu")
        store = cluster.store()
        cluster.wait_for_workers(2, timeout=90)
        client = Client(cluster.settings)
        results = [
            client.submit([clip], q, scorer="qwen3-vl").wait(timeout=300)
            for q in ("a test pattern", "a clock")
        ]
        time.sleep(1.5)
        gpu = [w for w in live_workers(store, cluster.settings.work_bucket) if "gpu" in w.queues]
    finally:
        cluster.stop()
    assert all(r.status == JobState.succeeded for r in results), cluster.logs()
    assert gpu[0].scorer == "qwen3-vl" and gpu[0].scorer_loads == 1
    embedded = (
        Client(qwen_settings).submit([clip], "a test pattern", scorer="qwen3-vl").wait(timeout=300)
    )
    distributed_scores = [w.score for w in results[0].videos[0].windows]
    embedded_scores = [w.score for w in embedded.videos[0].windows]
    assert distributed_scores == pytest.approx(embedded_scores, abs=1e-3)


def test_frames_are_sampled_once_per_preset_at_its_size_and_the_preset_is_recorded(
    qwen_settings, tmp_path
):
    clip = media.testsrc_clip(tmp_path / "hd.mp4", 8, fps=5, size="1280x720")
    client = Client(qwen_settings)
    jobs, results = [], []
    for preset, text in (("official", "a pattern"), ("fast", "a pattern"), ("fast", "a clock")):
        job = client.submit(
            [clip], text, scorer="qwen3-vl", frame_pixels=preset, refine_boundaries=False
        )
        results.append(job.wait(timeout=300))
        jobs.append(job)
    counts = [job._dispatcher.runner.ctx.counters for job in jobs]
    assert counts[0].get("decodes") == 1 and counts[1].get("decodes") == 1  # re-sampled once
    assert "decodes" not in counts[2] and counts[2].get("frame_cache_hits") == 1
    assert [r.frame_pixels for r in results] == ["official", "fast", "fast"]
    assert all(r.status == JobState.succeeded for r in results)
    manifests = sorted((qwen_settings.data_dir / qwen_settings.work_bucket).rglob("manifest.json"))
    sizes = {FrameManifest.model_validate_json(m.read_text()).width for m in manifests}
    assert sizes == {1152, 576}  # 720p: 640x1152 (720 tokens a pair) and 320x576 (180)

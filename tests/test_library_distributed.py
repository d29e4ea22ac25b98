"""Library search across real workers (Redis, an S3 server, celery worker processes) with the
tiny random Qwen3-VL-Embedding as the window embedder: two gpu workers index at once and lose
nothing, the query is embedded on a gpu worker and recall runs on the cpu queue, and the
distributed search recalls exactly what embedded mode recalls."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from common import keys
from common.index.library import IndexScope, LibraryIndex
from common.index.shard import WindowShard
from common.index.shard_store import read_shard, read_vectors
from common.schemas import JobResult, JobState
from common.settings import Settings
from common.storage import ObjectStore
from producer.client import Client
from producer.sample_lecture import Slide, make_lecture
from tests.cluster import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.integration]

LECTURES = {
    "optics": (
        Slide("Refraction", ("Light bends entering glass",), 10),
        Slide("Lenses", ("Converging and diverging lenses",), 10),
        Slide("Mirrors", ("The angle of incidence equals reflection",), 10),
    ),
    "genetics": (
        Slide("DNA", ("A double helix of nucleotides",), 10),
        Slide("Mendel", ("Dominant and recessive traits",), 10),
        Slide("Mutations", ("Changes in the genetic code",), 10),
    ),
    "economics": (
        Slide("Supply and Demand", ("Prices balance the market",), 10),
        Slide("Inflation", ("Rising prices reduce purchasing power",), 10),
        Slide("Interest Rates", ("The cost of borrowing money",), 10),
    ),
}


@pytest.fixture(scope="module")
def tiny_embedder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.qwen_tiny_embedding import save_tiny_embedder

    return save_tiny_embedder(tmp_path_factory.mktemp("qwen3-vl-embedding-tiny"))


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("library")
    out = {}
    for name, slides in LECTURES.items():
        out[name] = folder / f"{name}.mp4"
        make_lecture(out[name], slides, size=(640, 360))
    return out


@pytest.fixture(scope="module")
def cluster(redis_server, s3_server, tmp_path_factory, tiny_embedder_dir):
    cluster = Cluster(
        redis_server.url,
        s3_server,
        tmp_path_factory.mktemp("cluster"),
        embedder="qwen3-vl-embedding",
        embedder_model=str(tiny_embedder_dir),
    )
    cluster.start_worker("cpu")
    cluster.start_worker("gpu")
    cluster.start_worker("gpu")
    cluster.wait_for_workers(3, timeout=90)
    yield cluster
    cluster.stop()


def shard_keys(store: ObjectStore, bucket: str) -> list[str]:
    return sorted(store.list_keys(bucket, "index/shards/"))


def test_two_gpu_workers_index_the_same_and_different_videos_at_once(cluster, videos):
    client = Client(cluster.settings)
    jobs = [
        client.index([videos["optics"], videos["genetics"]]),
        client.index([videos["genetics"], videos["economics"]]),
    ]
    results: list[JobResult] = []
    threads = [
        threading.Thread(target=lambda j=j: results.append(j.wait(timeout=300))) for j in jobs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status for r in results] == [JobState.succeeded] * 2, cluster.logs()
    store = cluster.store()
    work = cluster.settings.work_bucket
    found = shard_keys(store, work)
    assert len(found) == 3, found  # one shard per video, the shared one written once
    identities = []
    for key in found:
        shard = WindowShard.model_validate_json(store.get_bytes(work, key))
        identities.append(shard.identity)
        assert len(shard.windows) == 6
        assert [e.name for e in shard.identity.embedders] == ["qwen3-vl-embedding", "text"]
        for block in shard.vectors:
            vectors = read_vectors(store, work, shard, block)
            assert vectors.shape == (6, block.embedder.dims)
            assert np.allclose(np.linalg.norm(vectors.astype(np.float32), axis=1), 1, atol=1e-2)
    assert read_shard(store, work, identities[0]) is not None
    # Rebuilt from the store alone, the index holds every window exactly once.
    scope = IndexScope.of(identities[0])
    index = LibraryIndex(cluster.workdir / "rebuild", scope, store, work)
    index.rebuild([i.content_hash for i in identities])
    assert index.doc_count == 18
    windows = {index.window_of(o) for o in range(index.doc_count)}
    assert len(windows) == 18


def test_a_distributed_search_recalls_what_embedded_mode_recalls(
    cluster, videos, tiny_embedder_dir, tmp_path
):
    paths = list(videos.values())
    query = "interest rates"
    distributed = Client(cluster.settings).submit(paths, query, recall=3)
    result = distributed.wait(timeout=300)
    assert result.status == JobState.succeeded, cluster.logs()
    assert result.recall is not None
    assert result.recall.signals[0] == "text"
    assert any(s.startswith("vector:qwen3-vl-embedding") for s in result.recall.signals)
    # (The tiny embedder's weights are random: which windows it favours is chance, so the
    # test asserts that both modes recall the same windows, not that the right slide wins.)
    store, work = cluster.store(), cluster.settings.work_bucket
    assert list(store.list_keys(work, keys.job_prefix(result.job_id) + "query-vectors/"))

    embedded_settings = Settings(
        data_dir=tmp_path / "store",
        index_cache_dir=tmp_path / "index-cache",
        broker_url=None,
        s3_endpoint=None,
        embedder="qwen3-vl-embedding",
        embedder_model=str(tiny_embedder_dir),
    )
    embedded = Client(embedded_settings).submit(paths, query, recall=3).wait(timeout=300)
    assert embedded.recall == result.recall

    def reranked(r: JobResult) -> list[tuple[str, float]]:
        return sorted(
            (Path(v.video).name, w.start) for v in r.videos for w in v.windows if w.reranked
        )

    assert reranked(embedded) == reranked(result)
    assert [(Path(c.video).name, c.start, c.end) for c in embedded.clips] == [
        (Path(c.video).name, c.start, c.end) for c in result.clips
    ]

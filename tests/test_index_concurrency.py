"""Two writers at once, no lock: real processes writing shards to a real S3 server."""

from __future__ import annotations

import multiprocessing
import uuid
from pathlib import Path

import pytest

from common.index.library import IndexScope, LibraryIndex
from common.index.shard_store import encode_shard, read_shard
from common.storage import S3ObjectStore
from infra.services import SeaweedS3Server
from tests.index_library import LECTURES, content_hash, identity, write_video

pytestmark = pytest.mark.integration

#: Each writer indexes its video this many times in a row (more chances to interleave).
ROUNDS = 3


def _store(endpoint: str, access_key: str, secret_key: str) -> S3ObjectStore:
    return S3ObjectStore(endpoint, access_key, secret_key, retry_window_s=10.0)


def _writer(
    credentials: tuple[str, str, str], bucket: str, name: str, start: object
) -> None:  # runs in a child process
    store = _store(*credentials)
    start.wait(timeout=60)  # type: ignore[attr-defined]
    for _ in range(ROUNDS):
        write_video(store, bucket, name, LECTURES[name])


def test_concurrent_writers_of_same_and_different_videos_lose_nothing(
    s3_server: SeaweedS3Server, tmp_path: Path
) -> None:
    credentials = (s3_server.endpoint, s3_server.access_key, s3_server.secret_key)
    store = _store(*credentials)
    bucket = f"index-{uuid.uuid4().hex[:12]}"
    store.ensure_bucket(bucket)
    writers = ["physics", "physics", "statistics", "chemistry"]  # two on the same video
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(len(writers))
    processes = [
        context.Process(target=_writer, args=(credentials, bucket, name, start)) for name in writers
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * len(writers)

    for name in LECTURES:
        shard = read_shard(store, bucket, identity(name))
        assert shard is not None, name
        assert [w.text for w in shard.windows] == LECTURES[name]
        alone, _ = _expected(tmp_path, name)
        assert encode_shard(shard) == alone  # the same bytes a single writer writes

    index = LibraryIndex(tmp_path / "cache", IndexScope.of(identity("any")), store, bucket)
    index.sync(content_hash(name) for name in LECTURES)
    recorded = [index.window_of(ordinal) for ordinal in range(index.doc_count)]
    expected = [(content_hash(n), i) for n, texts in LECTURES.items() for i in range(len(texts))]
    assert sorted(recorded) == sorted(expected)  # every window exactly once


def _expected(tmp_path: Path, name: str) -> tuple[bytes, object]:
    """The shard bytes one writer alone writes to a fresh store."""
    from common.storage import LocalObjectStore

    local = LocalObjectStore(tmp_path / f"alone-{name}")
    local.ensure_bucket("work")
    shard = write_video(local, "work", name, LECTURES[name])
    return encode_shard(shard), shard

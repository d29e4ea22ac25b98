"""Window shards: identity, keys, encoding, and what the store holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from common.index.shard import EmbedderIdentity, decode_vectors, encode_vectors
from common.index.shard_store import (
    ShardCorruptError,
    build_shard,
    encode_shard,
    read_shard,
    read_vectors,
)
from common.storage import LocalObjectStore
from tests.index_library import TEST_EMBEDDER, identity, random_vectors, windows_of, write_video


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    store = LocalObjectStore(tmp_path / "store")
    store.ensure_bucket("work")
    return store


def test_identity_key_is_deterministic_and_names_what_changes_content() -> None:
    assert identity("a").key == identity("a").key
    assert identity("a").key.startswith(f"index/shards/{identity('a').content_hash}/fps1-")
    other_text = identity("a").model_copy(update={"text_source": "ocr+asr"})
    no_vectors = identity("a", embedders=())
    keys = {identity("a").key, identity("b").key, other_text.key, no_vectors.key}
    assert len(keys) == 4


def test_embedder_tag_covers_model_and_revision_in_a_key_safe_name() -> None:
    a = EmbedderIdentity(
        name="qwen3-vl-embedding", model_id="Qwen/Qwen3-VL-Embedding-2B", dims=2048
    )
    b = a.model_copy(update={"revision": "abc123"})
    assert a.tag != b.tag
    assert "/" not in a.tag and a.tag.startswith("qwen3-vl-embedding-2048-")


def test_equal_shards_encode_to_equal_bytes() -> None:
    vectors = {TEST_EMBEDDER: random_vectors("a", 3, 16)}
    first, blobs1 = build_shard(identity("a"), 15.0, windows_of(["x", "y", "z"]), vectors)
    second, blobs2 = build_shard(identity("a"), 15.0, windows_of(["x", "y", "z"]), vectors)
    assert encode_shard(first) == encode_shard(second)
    assert blobs1 == blobs2


def test_vectors_are_stored_as_float16_and_come_back_close() -> None:
    rows = random_vectors("a", 100, 16)
    data = encode_vectors(rows, 16)
    back = decode_vectors(data, 100, 16)
    assert back.dtype == np.float16
    assert np.max(np.abs(back.astype(np.float32) - rows)) < 1e-3
    assert len(data) == rows.nbytes // 2 + 128  # half of float32, plus the .npy header


def test_shard_needs_one_block_per_embedder_with_one_row_per_window() -> None:
    with pytest.raises(ValueError, match="one vector block per embedder"):
        build_shard(identity("a"), 10.0, windows_of(["x", "y"]), {})
    with pytest.raises(ValueError, match="3 vectors"):
        build_shard(
            identity("a"), 10.0, windows_of(["x", "y"]), {TEST_EMBEDDER: random_vectors("a", 3, 16)}
        )
    with pytest.raises(ValueError, match="NaN"):
        encode_vectors(np.full((1, 16), np.nan, dtype=np.float32), 16)


def test_written_shard_reads_back_with_its_vectors(store: LocalObjectStore) -> None:
    written = write_video(store, "work", "a", ["one", "two"])
    shard = read_shard(store, "work", identity("a"))
    assert shard == written
    assert [w.text for w in shard.windows] == ["one", "two"]
    rows = read_vectors(store, "work", shard, shard.vectors[0])
    assert rows.shape == (2, 16)
    assert read_shard(store, "work", identity("not-indexed")) is None


def test_tampered_vector_block_is_refused(store: LocalObjectStore) -> None:
    shard = write_video(store, "work", "a", ["one", "two"])
    block = shard.vectors[0]
    store.put_bytes("work", block.key, encode_vectors(random_vectors("b", 2, 16), 16))
    with pytest.raises(ShardCorruptError, match="digest"):
        read_vectors(store, "work", shard, block)


def test_shard_is_immutable() -> None:
    shard, _ = build_shard(identity("a", embedders=()), 5.0, windows_of(["x"]))
    with pytest.raises(ValidationError):
        shard.duration = 7.0  # type: ignore[misc]


def test_window_text_is_every_distinct_text_its_frames_show() -> None:
    from common.index.window_text import ocr_window_texts

    features = {
        "runs": [[0, 4, 0], [5, 7, -1], [8, 12, 1]],
        "texts": [["Newton's First Law", "Inertia"], ["Free-Body Diagrams"]],
    }
    windows = [[0, 1, 2, 3, 4], [5, 6, 7], [6, 7, 8, 9], [13]]
    assert ocr_window_texts(features, windows) == [
        "Newton's First Law\nInertia",
        "",
        "Free-Body Diagrams",
        "",
    ]

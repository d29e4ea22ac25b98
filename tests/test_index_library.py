"""The query-side library index: built from stored shards, updated (not rebuilt) per video,
shared through its cache folder, rebuildable from the store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from common.index.library import IndexScope, LibraryIndex, ShardMissingError, open_library_index
from common.index.recall import TEXT_SIGNAL, TEXT_WEIGHT, recall, vector_signal
from common.index.text_search import TextIndex
from common.storage import LocalObjectStore
from tests.index_library import (
    LECTURES,
    TEST_EMBEDDER,
    content_hash,
    identity,
    random_vectors,
    write_video,
)

SCOPE = IndexScope.of(identity("any"))
QUERIES = ["newton second law", "confidence interval", "reaction temperature", "元素"]


class CountingStore(LocalObjectStore):
    """The local store, counting object reads."""

    reads = 0

    def get_bytes(self, bucket: str, key: str) -> bytes:
        self.reads += 1
        return super().get_bytes(bucket, key)


@pytest.fixture
def store(tmp_path: Path) -> CountingStore:
    store = CountingStore(tmp_path / "store")
    store.ensure_bucket("work")
    for name, texts in LECTURES.items():
        write_video(store, "work", name, texts)
    return store


def _index(store: CountingStore, cache: Path) -> LibraryIndex:
    return LibraryIndex(cache, SCOPE, store, "work")


def _hashes(*names: str) -> list[str]:
    return [content_hash(n) for n in names]


def _tie_free(hits: object) -> list[tuple[object, float]]:
    """Hits ordered by score, then by what they are (ties broken the same way every time)."""
    pairs = [(item, float(score)) for item, score in hits]  # type: ignore[attr-defined]
    return sorted(pairs, key=lambda pair: (-round(pair[1], 4), repr(pair[0])))


def _answers(index: LibraryIndex) -> list[object]:
    out: list[object] = [index.search_text(q, 20) for q in QUERIES]
    query = random_vectors("query", 1, TEST_EMBEDDER.dims)[0]
    out.append(index.search_vectors(TEST_EMBEDDER, query, 10))
    return out


def test_adding_a_video_equals_a_full_rebuild(store: CountingStore, tmp_path: Path) -> None:
    grown = _index(store, tmp_path / "grown")
    grown.sync(_hashes("physics", "statistics"))
    grown.sync(_hashes("physics", "statistics", "chemistry"))
    built = _index(store, tmp_path / "built")
    built.rebuild(_hashes("physics", "statistics", "chemistry"))
    assert grown.videos == built.videos
    for got, want in zip(_answers(grown), _answers(built), strict=True):
        # Equal scores may come back in either order (segments differ): compare tie-free.
        got, want = _tie_free(got), _tie_free(want)
        assert [o for o, _ in got] == [o for o, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want])


def test_adding_a_video_reads_only_its_shard_and_keeps_the_index(
    store: CountingStore, tmp_path: Path
) -> None:
    index = _index(store, tmp_path / "cache")
    index.sync(_hashes("physics", "statistics"))
    generation = (tmp_path / "cache" / SCOPE.tag / "manifest.json").read_text()
    store.reads = 0
    report = index.sync(_hashes("physics", "statistics", "chemistry"))
    assert report.added == _hashes("chemistry")
    assert report.present == _hashes("physics", "statistics")
    assert store.reads == 2  # the shard JSON and its one vector block
    assert index.doc_count == sum(len(t) for t in LECTURES.values())
    assert _generation(generation) == _generation(
        (tmp_path / "cache" / SCOPE.tag / "manifest.json").read_text()
    )
    store.reads = 0
    index.sync(_hashes("physics", "chemistry"))  # a subset: nothing to read
    assert store.reads == 0


def _generation(manifest_json: str) -> str:
    import json

    return str(json.loads(manifest_json)["generation"])


def test_another_process_reuses_the_cached_index_without_store_reads(
    store: CountingStore, tmp_path: Path
) -> None:
    first = _index(store, tmp_path / "cache")
    first.sync(_hashes("physics", "statistics", "chemistry"))
    store.reads = 0
    second = _index(store, tmp_path / "cache")
    second.sync(_hashes("physics", "statistics", "chemistry"))
    assert store.reads == 0
    assert _answers(second) == _answers(first)


def test_a_process_sees_videos_another_one_added(store: CountingStore, tmp_path: Path) -> None:
    reader = _index(store, tmp_path / "cache")
    reader.sync(_hashes("physics"))
    writer = _index(store, tmp_path / "cache")
    writer.sync(_hashes("physics", "statistics"))
    store.reads = 0
    reader.sync(_hashes("physics", "statistics"))
    assert store.reads == 0
    assert reader.videos == _hashes("physics", "statistics")
    hits = reader.search_text("confidence interval", 5)
    assert reader.window_of(hits[0][0]) == (content_hash("statistics"), 1)


def test_a_torn_update_is_repaired_from_the_store(store: CountingStore, tmp_path: Path) -> None:
    index = _index(store, tmp_path / "cache")
    index.sync(_hashes("physics", "statistics"))
    text = TextIndex(tmp_path / "cache" / SCOPE.tag / "text")
    text.add([(999, 7, "crashed before the manifest was written")])
    text.commit()
    reopened = _index(store, tmp_path / "cache")
    assert reopened.videos == _hashes("physics", "statistics")
    assert reopened.doc_count == len(LECTURES["physics"]) + len(LECTURES["statistics"])
    assert reopened.search_text("crashed manifest", 5) == []


def test_searches_are_restricted_to_the_jobs_videos(store: CountingStore, tmp_path: Path) -> None:
    index = _index(store, tmp_path / "cache")
    index.sync(_hashes("physics", "statistics", "chemistry"))
    only = _hashes("statistics")
    for ordinal, _ in index.search_text("law interval reaction", 50, only):
        assert index.window_of(ordinal)[0] == only[0]
    query = random_vectors("query", 1, TEST_EMBEDDER.dims)[0]
    vector_hits = index.search_vectors(TEST_EMBEDDER, query, 50, only)
    assert len(vector_hits) == len(LECTURES["statistics"])
    assert {index.window_of(o)[0] for o, _ in vector_hits} == set(only)


def test_a_video_without_a_shard_is_reported_and_nothing_is_added(
    store: CountingStore, tmp_path: Path
) -> None:
    index = _index(store, tmp_path / "cache")
    with pytest.raises(ShardMissingError, match=content_hash("never-indexed")):
        index.sync(_hashes("physics", "never-indexed"))
    assert index.videos == []
    with pytest.raises(ShardMissingError):
        index.search_text("law", 5, _hashes("physics"))


def test_recall_fuses_signals_and_brings_neighbours(store: CountingStore, tmp_path: Path) -> None:
    index = _index(store, tmp_path / "cache")
    physics = content_hash("physics")
    index.sync([physics])
    query_vector = random_vectors("physics", 7, TEST_EMBEDDER.dims)[3]  # window 3's own vector
    both = recall(index, 1, "mass times acceleration", {TEST_EMBEDDER: query_vector}, [physics])
    assert [(h.video, h.window, h.signals) for h in both] == [
        (physics, 3, (TEXT_SIGNAL, vector_signal(TEST_EMBEDDER)))
    ]
    assert both[0].score == pytest.approx((TEXT_WEIGHT + 1) / 61)
    text_only = recall(index, 3, "mass times acceleration", videos=[physics])
    assert [(h.window, h.signals) for h in text_only] == [
        (3, (TEXT_SIGNAL,)),
        (2, ("neighbour",)),
        (4, ("neighbour",)),
    ]
    assert text_only[1].score == text_only[0].score


def test_recall_never_recalls_a_window_without_text_by_its_zero_vector(
    store: CountingStore, tmp_path: Path
) -> None:
    index = _index(store, tmp_path / "cache")
    physics = content_hash("physics")
    index.sync([physics])
    zero = np.zeros(TEST_EMBEDDER.dims, dtype=np.float32)
    assert recall(index, 10, None, {TEST_EMBEDDER: zero}, [physics]) == []


def test_a_process_keeps_one_open_index_per_scope(store: CountingStore, tmp_path: Path) -> None:
    first = open_library_index(tmp_path / "cache", SCOPE, store, "work")
    assert open_library_index(tmp_path / "cache", SCOPE, store, "work") is first
    assert open_library_index(tmp_path / "other", SCOPE, store, "work") is not first


def test_a_process_follows_another_ones_rebuild(store: CountingStore, tmp_path: Path) -> None:
    reader = _index(store, tmp_path / "cache")
    reader.sync(_hashes("physics", "statistics"))
    _index(store, tmp_path / "cache").rebuild(_hashes("chemistry"))
    reader.refresh()
    assert reader.videos == _hashes("chemistry")
    hits = reader.search_text("reaction temperature", 3)
    assert reader.window_of(hits[0][0]) == (content_hash("chemistry"), 2)


def test_float16_rows_load_as_codes_and_search_like_float32_rows() -> None:
    from common.index.vector_search import VectorIndex

    rows = random_vectors("rows", 300, 16)
    as_codes, encoded = VectorIndex(16), VectorIndex(16)
    as_codes.add(rows.astype(np.float16))
    encoded.add(rows.astype(np.float16).astype(np.float32))
    for query in rows[:5]:
        assert as_codes.search(query, 10) == encoded.search(query, 10)
    assert as_codes.search(rows[7], 1)[0][0] == 7

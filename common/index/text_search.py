"""BM25 over window text: a tantivy index in a local folder.

Chosen over SQLite FTS5 by ``benchmarks/bench_index_libraries.py`` (docs/benchmarks.md): top-200
queries in under a few milliseconds at 1,000 hours where FTS5 takes hundreds (tantivy skips
non-competitive documents with block-max WAND; FTS5 scores every match). Documents are the
terms of :func:`common.index.analysis.bm25_terms` joined by spaces, so tantivy only splits on
whitespace and BM25 sees the same units as the OCR scorer. Each document carries its ordinal in
the library index and its video's slot, both fast fields: the slot restricts a search to a
job's videos.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from common.index.analysis import bm25_terms, query_terms

#: Memory tantivy's writer may buffer before it flushes a segment, bytes.
WRITER_HEAP_BYTES = 64_000_000


def _schema() -> Any:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("terms", stored=False, tokenizer_name="whitespace")
    builder.add_integer_field("ordinal", stored=False, indexed=False, fast=True)
    builder.add_integer_field("video", stored=False, indexed=True, fast=True)
    return builder.build()


class TextIndex:
    """BM25 search over windows' text, stored in ``folder`` (created when missing)."""

    def __init__(self, folder: Path) -> None:
        import tantivy

        self._tantivy = tantivy
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._schema = _schema()
        self._index = tantivy.Index(self._schema, path=str(folder), reuse=True)
        self._writer: Any = None
        self._searcher = self._index.searcher()

    @property
    def doc_count(self) -> int:
        """Documents visible to searches (committed)."""
        return int(self._searcher.num_docs)

    def add(self, documents: Iterable[tuple[int, int, str]]) -> None:
        """Add ``(ordinal, video slot, text)`` documents; visible after :meth:`commit`."""
        if self._writer is None:
            self._writer = self._index.writer(heap_size=WRITER_HEAP_BYTES, num_threads=1)
        document = self._tantivy.Document
        for ordinal, slot, text in documents:
            self._writer.add_document(
                document(ordinal=ordinal, video=slot, terms=" ".join(bm25_terms(text)))
            )

    def commit(self) -> None:
        """Make added documents durable and searchable; releases the writer's lock."""
        if self._writer is not None:
            self._writer.commit()
            self._writer.wait_merging_threads()
            self._writer = None
        self.reload()

    def rollback(self) -> None:
        """Drop documents added since the last commit."""
        if self._writer is not None:
            self._writer.rollback()
            self._writer = None

    def reload(self) -> None:
        """See what another process committed."""
        self._index.reload()
        self._searcher = self._index.searcher()

    def search(
        self, query: str, limit: int, video_slots: Collection[int] | None = None
    ) -> list[tuple[int, float]]:
        """The best ``limit`` documents for ``query`` as ``(ordinal, BM25 score)``, best first.

        ``video_slots`` keeps only documents of those videos (None: every video).
        """
        terms = query_terms(query)
        if not terms or limit < 1:
            return []
        Query, Occur = self._tantivy.Query, self._tantivy.Occur
        # Term queries, not the query parser: no query syntax for a user's words to trip on.
        query_obj = Query.boolean_query(
            [(Occur.Should, Query.term_query(self._schema, "terms", term)) for term in terms]
        )
        if video_slots is not None:
            if not video_slots:
                return []
            only = Query.term_set_query(self._schema, "video", sorted(video_slots))
            query_obj = Query.boolean_query(
                [(Occur.Must, query_obj), (Occur.Must, Query.const_score_query(only, 0.0))]
            )
        hits = self._searcher.search(query_obj, limit, count=False).hits
        if not hits:
            return []
        ordinals = self._searcher.fast_field_values("ordinal", [address for _, address in hits])
        return [(int(o or 0), float(score)) for (score, _), o in zip(hits, ordinals, strict=True)]

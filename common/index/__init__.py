"""The library index: per-video window shards in the store, and the query-side index built
from them (BM25 over window text, cosine over window vectors, fused, expanded to neighbours).

Modules, one concept each:

- :mod:`common.index.shard`: the per-video shard format (pydantic) and its identity;
- :mod:`common.index.shard_store`: writing and reading shards in the object store;
- :mod:`common.index.analysis`: window text to BM25 terms (the OCR scorer's units);
- :mod:`common.index.text_search`: BM25 over window text (tantivy);
- :mod:`common.index.vector_search`: cosine over L2-normalised vectors (FAISS);
- :mod:`common.index.fusion`: reciprocal-rank fusion of ranked lists;
- :mod:`common.index.expansion`: candidates bring their neighbouring windows;
- :mod:`common.index.library`: the query-side index, cached on local disk, updated per video;
- :mod:`common.index.recall`: hybrid recall over a library index.
"""

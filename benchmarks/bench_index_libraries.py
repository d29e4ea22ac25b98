"""Which libraries hold the query-side index: tantivy vs SQLite FTS5 for BM25, FAISS vs LanceDB
for vectors, measured on the same simulated library (:mod:`benchmarks.simulated_library`).

Each candidate runs in its own process (so its memory is its own): it builds its index from
the library's windows, answers the same queries (top 200), then adds one more video without a
rebuild. Both sides of a pair get the same analysed terms (:func:`common.index.analysis.bm25_terms`)
or the same vectors. Candidates that are not installed are reported as such: only the winners
are project dependencies (``pip install lancedb`` to re-run the comparison).

    python -m benchmarks.bench_index_libraries --hours 10 100 1000
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._util import REPO_ROOT, Figure, update_doc
from benchmarks.simulated_library import (
    query_vectors,
    simulated_library,
    simulated_video,
    text_queries,
)
from common.index.analysis import bm25_terms, query_terms

#: Vector length of the simulated embedder (Qwen3-VL-Embedding-2B).
DIMS = 2048
#: Candidates recalled per query.
TOP_K = 200
#: Queries timed per candidate (after WARMUP untimed ones).
QUERIES = 30
WARMUP = 3
#: Where a LanceDB install for this comparison only may live (``pip install --target``).
LANCEDB_SITE = REPO_ROOT / ".bench" / "lancedb-site"
#: LanceDB's IVF-PQ index is trained only up to this library size (training is slow on 2 cores).
MAX_IVFPQ_HOURS = 10
CANDIDATES = ("tantivy", "fts5", "faiss-flat", "faiss-fp16", "lancedb-flat", "lancedb-ivfpq")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _dir_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


class TextCandidate:
    """BM25 over pre-analysed terms: ``add(first ordinal, texts)``, ``search(query) -> ids``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def add(self, first: int, texts: list[str]) -> None: ...
    def commit(self) -> None: ...
    def search(self, query: str) -> list[int]: ...


class Tantivy(TextCandidate):
    def __init__(self, folder: Path) -> None:
        import tantivy

        super().__init__(folder)
        folder.mkdir(parents=True, exist_ok=True)
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("terms", stored=False, tokenizer_name="whitespace")
        builder.add_integer_field("ordinal", stored=True, indexed=False, fast=True)
        self.index = tantivy.Index(builder.build(), path=str(folder))
        self.writer = self.index.writer(heap_size=200_000_000, num_threads=1)
        self.tantivy = tantivy

    def add(self, first: int, texts: list[str]) -> None:
        for offset, text in enumerate(texts):
            self.writer.add_document(
                self.tantivy.Document(ordinal=first + offset, terms=" ".join(bm25_terms(text)))
            )

    def commit(self) -> None:
        self.writer.commit()
        self.writer.wait_merging_threads()
        self.writer = self.index.writer(heap_size=200_000_000, num_threads=1)
        self.index.reload()
        self.searcher = self.index.searcher()

    def search(self, query: str) -> list[int]:
        terms = query_terms(query)
        if not terms:
            return []
        parsed = self.index.parse_query(" ".join(terms), ["terms"])
        hits = self.searcher.search(parsed, TOP_K).hits
        return [self.searcher.doc(address)["ordinal"][0] for _score, address in hits]


class Fts5(TextCandidate):
    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(folder / "fts.db")
        self.db.execute(
            "CREATE VIRTUAL TABLE windows USING fts5(terms, "
            "tokenize='unicode61 remove_diacritics 0')"
        )

    def add(self, first: int, texts: list[str]) -> None:
        self.db.executemany(
            "INSERT INTO windows(rowid, terms) VALUES (?, ?)",
            ((first + i, " ".join(bm25_terms(t))) for i, t in enumerate(texts)),
        )

    def commit(self) -> None:
        self.db.commit()

    def search(self, query: str) -> list[int]:
        terms = query_terms(query)
        if not terms:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        rows = self.db.execute(
            "SELECT rowid FROM windows WHERE windows MATCH ? ORDER BY rank LIMIT ?",
            (match, TOP_K),
        )
        return [row[0] for row in rows]


class VectorCandidate:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def add(self, vectors: np.ndarray) -> None: ...
    def commit(self) -> None: ...
    def search(self, query: np.ndarray) -> list[int]: ...


class FaissFlat(VectorCandidate):
    def __init__(self, folder: Path, fp16: bool = False) -> None:
        import faiss

        super().__init__(folder)
        faiss.omp_set_num_threads(2)
        if fp16:
            self.index = faiss.IndexScalarQuantizer(
                DIMS, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
            )
        else:
            self.index = faiss.IndexFlatIP(DIMS)

    def add(self, vectors: np.ndarray) -> None:
        self.index.add(vectors)

    def search(self, query: np.ndarray) -> list[int]:
        _scores, ids = self.index.search(query[None, :], TOP_K)
        return [int(i) for i in ids[0] if i >= 0]


class LanceDb(VectorCandidate):
    def __init__(self, folder: Path, ivfpq: bool = False) -> None:
        if str(LANCEDB_SITE) not in sys.path and LANCEDB_SITE.is_dir():
            sys.path.append(str(LANCEDB_SITE))
        import lancedb
        import pyarrow as pa

        super().__init__(folder)
        self.pa = pa
        self.db = lancedb.connect(str(folder))
        self.schema = pa.schema(
            [pa.field("ordinal", pa.int64()), pa.field("vector", pa.list_(pa.float32(), DIMS))]
        )
        self.table = self.db.create_table("windows", schema=self.schema)
        self.ivfpq = ivfpq
        self.indexed = False
        self.next = 0

    def add(self, vectors: np.ndarray) -> None:
        flat = self.pa.array(vectors.reshape(-1), type=self.pa.float32())
        batch = self.pa.table(
            {
                "ordinal": self.pa.array(np.arange(self.next, self.next + len(vectors))),
                "vector": self.pa.FixedSizeListArray.from_arrays(flat, DIMS),
            },
            schema=self.schema,
        )
        self.table.add(batch)
        self.next += len(vectors)

    def commit(self) -> None:
        if self.ivfpq and not self.indexed:
            partitions = max(16, int(np.sqrt(self.next)))
            self.table.create_index(
                metric="dot", num_partitions=partitions, num_sub_vectors=DIMS // 16
            )
            self.indexed = True

    def search(self, query: np.ndarray) -> list[int]:
        result = (
            self.table.search(query)
            .distance_type("dot")
            .limit(TOP_K)
            .select(["ordinal"])
            .to_arrow()
        )
        return [int(v) for v in result.column("ordinal").to_pylist()]


def _make(name: str, folder: Path) -> TextCandidate | VectorCandidate:
    makers: dict[str, Callable[[], Any]] = {
        "tantivy": lambda: Tantivy(folder),
        "fts5": lambda: Fts5(folder),
        "faiss-flat": lambda: FaissFlat(folder),
        "faiss-fp16": lambda: FaissFlat(folder, fp16=True),
        "lancedb-flat": lambda: LanceDb(folder),
        "lancedb-ivfpq": lambda: LanceDb(folder, ivfpq=True),
    }
    return makers[name]()


def run_candidate(name: str, hours: int, folder: Path) -> dict[str, Any]:
    """Build, query and grow one candidate in this process; its figures as a dict."""
    is_text = name in ("tantivy", "fts5")
    if name == "lancedb-ivfpq" and hours > MAX_IVFPQ_HOURS:
        raise SystemExit(
            f"skipped: IVF-PQ training is slow on 2 cores; run up to {MAX_IVFPQ_HOURS} h"
        )
    candidate = _make(name, folder / "index")
    before = _rss_mb()
    build_s = 0.0  # time inside the library only (generating the library is not counted)
    first = 0
    for video in simulated_library(hours):
        payload = video.texts if is_text else video.vectors(DIMS)
        t0 = time.perf_counter()
        if is_text:
            candidate.add(first, payload)  # type: ignore[arg-type]
        else:
            candidate.add(payload)  # type: ignore[arg-type]
        build_s += time.perf_counter() - t0
        first += len(video.texts)
        del payload
    t0 = time.perf_counter()
    candidate.commit()
    build_s += time.perf_counter() - t0
    memory_mb = _rss_mb() - before
    queries: list[Any] = (
        text_queries(QUERIES + WARMUP, hours)
        if is_text
        else list(query_vectors(QUERIES + WARMUP, DIMS))
    )
    latencies, found = [], []
    for i, query in enumerate(queries):
        t0 = time.perf_counter()
        ids = candidate.search(query)
        if i >= WARMUP:
            latencies.append(time.perf_counter() - t0)
            found.append(len(ids))
    extra = simulated_video(hours)
    t0 = time.perf_counter()
    if is_text:
        candidate.add(first, extra.texts)  # type: ignore[arg-type]
    else:
        candidate.add(extra.vectors(DIMS))  # type: ignore[arg-type]
    candidate.commit()
    add_s = time.perf_counter() - t0
    probe = extra.titles[0] if is_text else extra.vectors(DIMS)[0]
    new_found = any(i >= first for i in candidate.search(probe))
    return {
        "candidate": name,
        "hours": hours,
        "windows": first,
        "build_s": build_s,
        "p50_ms": 1000 * statistics.median(latencies),
        "p90_ms": 1000 * statistics.quantiles(latencies, n=10)[-1],
        "mean_hits": statistics.mean(found),
        "memory_mb": memory_mb,
        "disk_mb": _dir_mb(folder / "index") if (folder / "index").exists() else 0.0,
        "add_one_video_s": add_s,
        "added_video_found": new_found,
    }


def measure(name: str, hours: int) -> dict[str, Any]:
    """Run one candidate in a child process; its figures, or ``{"error": ...}``."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        cmd = [sys.executable, "-m", "benchmarks.bench_index_libraries", "--child", name,
               "--hours", str(hours), "--folder", tmp]  # fmt: skip
        env = dict(os.environ, OMP_NUM_THREADS="2", LANCE_CPU_THREADS="2")
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO_ROOT)
        if done.returncode != 0:
            return {"candidate": name, "hours": hours, "error": done.stderr.strip()[-400:]}
        return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hours", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    parser.add_argument("--child")
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_candidate(args.child, args.hours[0], args.folder)))
        return []
    rows = []
    for hours in args.hours:
        for name in args.candidates:
            print(f"  {name} at {hours} h ...", flush=True)
            row = measure(name, hours)
            print("   ", row, flush=True)
            rows.append(row)
    lines = [
        "### Index libraries: BM25 (tantivy vs SQLite FTS5) and vectors (FAISS vs LanceDB)",
        "",
        "| candidate | hours (windows) | build | p50 query | p90 query | memory (RSS) | disk | "
        "add one 1-h video | |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['candidate']} | {r['hours']} | not run: {r['error'][-120:]} |")
            continue
        lines.append(
            f"| {r['candidate']} | {r['hours']} ({r['windows']:,}) | {r['build_s']:.1f} s | "
            f"{r['p50_ms']:.1f} ms | {r['p90_ms']:.1f} ms | {r['memory_mb']:.0f} MB | "
            f"{r['disk_mb']:.0f} MB | {r['add_one_video_s']:.2f} s | "
            f"{'found' if r['added_video_found'] else 'NOT FOUND'} |"
        )
    text = "\n".join(lines)
    print("\n" + text + "\n")
    if 1000 in args.hours:  # the doc keeps the full comparison; smaller runs only print
        update_doc(
            "bench_index_libraries",
            text + "\n\n" + _NOTE.format(hours=" ".join(map(str, args.hours))),
        )
    return []


_NOTE = (
    f"Top {TOP_K} per query, {QUERIES} queries after {WARMUP} warm-up ones, 2 threads; "
    f"vectors {DIMS}-dim random unit vectors, text lecture-like "
    "(`benchmarks/simulated_library.py`); each candidate in its own "
    "process (memory = RSS growth over the build). Measured by "
    "`python -m benchmarks.bench_index_libraries --hours {hours}` (LanceDB, not a dependency, "
    "from `pip install --target .bench/lancedb-site lancedb==0.40.0 ...`)."
)


if __name__ == "__main__":
    main()

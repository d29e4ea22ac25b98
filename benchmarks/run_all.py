"""``make bench``: every benchmark in one run, each printing its figures next to the targets."""

from __future__ import annotations

import time

from benchmarks import (
    bench_asr,
    bench_cache,
    bench_frames,
    bench_index_libraries,
    bench_ingest,
    bench_memory,
    bench_ocr,
    bench_queue,
    bench_recall,
    bench_text_embedder,
    bench_two_stage,
    phonetic_keys,
)
from benchmarks._util import machine_description, update_doc


def main() -> None:
    started = time.perf_counter()
    machine = machine_description()
    print(f"machine: {machine}")
    results = {}
    modules = (bench_ingest, bench_queue, bench_memory, bench_cache, bench_ocr, bench_frames)
    for module in (*modules, bench_asr, phonetic_keys):  # phonetic_keys: name matching, no model
        print(f"\n== {module.__name__} ==", flush=True)
        results[module.__name__] = module.main()
    # Library search: recall at 10/100/1,000 hours, the text embedder, and the library choice
    # re-checked at 10 and 100 hours (the 1,000-hour comparison: see docs/benchmarks.md).
    for name, run in (
        ("benchmarks.bench_recall", lambda: bench_recall.main([])),
        ("benchmarks.bench_text_embedder", lambda: bench_text_embedder.main()),
        (
            "benchmarks.bench_index_libraries",
            lambda: bench_index_libraries.main(["--hours", "10", "100"]),
        ),
        ("benchmarks.bench_two_stage", lambda: bench_two_stage.main([])),
    ):
        print(f"\n== {name} ==", flush=True)
        results[name] = run()
    import torch

    if torch.cuda.is_available():
        from benchmarks import embedder_throughput, reranker_throughput

        for size in ("2b", "8b"):
            reranker_throughput.main(["--model", size])
            embedder_throughput.main(["--model", size])
        gpu_note = "reranker and embedder throughput measured on " + torch.cuda.get_device_name(0)
    else:
        gpu_note = (
            "no GPU: reranker and embedder throughput not measured (run "
            "benchmarks.reranker_throughput and benchmarks.embedder_throughput)"
        )
        print(f"\n{gpu_note}")
    total = time.perf_counter() - started
    missed = [f"{name}: {f.name}" for name, figs in results.items() for f in figs if f.met is False]
    summary = [
        f"Latest `make bench` run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{total / 60:.1f} min in all, on {machine}; {gpu_note}.",
        "",
        "Targets missed: " + ("; ".join(missed) if missed else "none"),
    ]
    update_doc("bench_summary", "\n".join(summary))
    print("\n" + "\n".join(summary))


if __name__ == "__main__":
    main()

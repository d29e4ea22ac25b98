"""Target 3: memory flat in video length.

(a) Peak RSS of the producer (probe, one-pass sampling, frame cache, windows) for a 10-minute
and a 2-hour video, each in a fresh process. (b) A worker's RSS across 1,000 scoring tasks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._util import (
    REPO_ROOT,
    Figure,
    null_scorer_cluster,
    print_table,
    rss_mb,
    update_doc,
)
from benchmarks.media import small_clip
from tests.cluster import wait_until

#: Most the producer's peak RSS may grow from a 10-minute to a 2-hour video, MB.
TARGET_GROWTH_MB = 100.0
#: Pixel budget used for sampling here (the OCR scorer's).
MAX_PIXELS = 1280 * 720


def producer_peak_rss(video: Path, store_dir: Path) -> dict[str, float]:
    """Run the producer's ingest on ``video`` in a fresh process; its peak RSS figures, MB."""
    code = f"""
import json, resource
from pathlib import Path
from common.frames import sampling_id, write_frame_cache
from common.storage import LocalObjectStore
from common.video import content_hash, probe_video, sample_jpeg_frames
from common.windows import plan_batches, plan_windows
path = Path({str(video)!r})
store = LocalObjectStore(Path({str(store_dir)!r}))
probe = probe_video(path)
frames = sample_jpeg_frames(path, probe, 1.0, {MAX_PIXELS})
manifest = write_frame_cache(store, "work", content_hash(path), sampling_id(1.0, {MAX_PIXELS}),
                             1.0, {MAX_PIXELS}, probe, frames)
windows = plan_windows(probe.duration, 5.0, 5.0)
plan_batches(len(windows), 32)
print(json.dumps({{
    "frames": len(manifest.frame_times),
    # VmHWM, not ru_maxrss: ru_maxrss keeps the forking parent's peak across exec.
    "python_mb": next(int(line.split()[1]) for line in open("/proc/self/status")
                      if line.startswith("VmHWM:")) / 1024,
    "ffmpeg_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def worker_rss_across_tasks(workdir: Path, n_tasks: int = 1000) -> tuple[float, float, int]:
    """(RSS after ~10% of the tasks, RSS at the end, tasks done) of a gpu-queue worker, MB."""
    from common.heartbeat import live_workers
    from common.storage import open_store
    from producer.client import Client

    video = small_clip(n_tasks, 1, size="160x90")
    with null_scorer_cluster(workdir, windows_per_task=1) as cluster:
        settings = cluster.settings  # type: ignore[attr-defined]
        gpu = next(w for w in cluster.workers if "gpu" in w.queues)  # type: ignore[attr-defined]
        store = open_store(settings)

        def gpu_tasks() -> int:
            records = [w for w in live_workers(store, settings.work_bucket) if "gpu" in w.queues]
            return records[0].tasks_done if records else 0

        job = Client(settings).submit([video], "x", scorer="null-benchmark", window=1.0)
        wait_until(lambda: gpu_tasks() >= n_tasks // 10, 600, interval=0.05)
        early = rss_mb(gpu.pid)
        job.wait(timeout=900)
        time.sleep(1.5)
        late = rss_mb(gpu.pid)
        done = gpu_tasks()
    return early, late, done


def main() -> list[Figure]:
    short = small_clip(600, 5)
    long = small_clip(7200, 5)
    with tempfile.TemporaryDirectory() as tmp:
        a = producer_peak_rss(short, Path(tmp) / "a")
        b = producer_peak_rss(long, Path(tmp) / "b")
        early, late, tasks = worker_rss_across_tasks(Path(tmp) / "w")
    growth = b["python_mb"] - a["python_mb"]
    figures = [
        Figure(f"producer peak RSS, 10-min video ({a['frames']:.0f} frames)", a["python_mb"],
               "MB", "-", None),
        Figure(f"producer peak RSS, 2-hour video ({b['frames']:.0f} frames)", b["python_mb"],
               "MB", "-", None),
        Figure("producer growth 10 min -> 2 h", growth, "MB", f"<= {TARGET_GROWTH_MB:g} MB",
               growth <= TARGET_GROWTH_MB),
        Figure("ffmpeg child peak RSS, 2-hour video", b["ffmpeg_mb"], "MB", "-", None),
        Figure(f"gpu worker RSS after {tasks // 10} tasks", early, "MB", "-", None),
        Figure(f"gpu worker RSS after {tasks} tasks", late, "MB", "-", None),
        Figure("worker RSS growth over the run", late - early, "MB", "~0 (no growth)",
               late - early <= 20),
    ]  # fmt: skip
    table = print_table("Memory flat in video length (target 3)", figures)
    update_doc(
        "bench_memory",
        table + "\n\nVideos: 320x180 test pattern at 5 fps (10 min and 2 h); sampling 1 fps. "
        "Worker: null scorer, one window per task. "
        "Measured by `python -m benchmarks.bench_memory`.",
    )
    return figures


if __name__ == "__main__":
    main()

"""Metrics, fleet gauges, stats and graceful shutdown: the parts that need no servers."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from common.fleet import FleetSnapshot, JobProgress, broker_queue_names, throughput
from common.heartbeat import (
    Heartbeat,
    WorkerRecord,
    add_to_minute,
    prune_worker_records,
    unix_minute,
    worker_records,
)
from common.pipeline import PipelineContext
from common.schemas import JobState, JobTask
from common.settings import Settings
from common.storage import LocalObjectStore
from producer.cli import main
from producer.stats import duration_text, eta_seconds, print_stats
from workers import shutdown
from workers.launch import exit_code
from workers.metrics.fleet import snapshot_metrics
from workers.metrics.gpu import GpuMemoryCollector
from workers.middleware.counters import StepCounters
from workers.runner import StepOutcome, StepRunner

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "infra" / "grafana" / "dashboards" / "seglocate.json"
NOW = datetime(2026, 11, 30, 12, 0, 30, tzinfo=UTC)  # 30 s into a minute


def record(scorer: str | None, history: list[tuple[int, int]], seen: datetime = NOW):
    return WorkerRecord(
        node=f"n-{scorer}", pid=1, queues=["gpu"], scorer=scorer, windows_by_minute=history,
        last_seen=seen,
    )  # fmt: skip


# ------------------------------------------------------------------------ throughput (pure)


def test_throughput_is_windows_of_the_last_minutes_over_the_time_they_cover():
    minute = unix_minute(NOW)
    records = [
        record("ocr", [(minute - 20, 999), (minute - 1, 60), (minute, 30)]),
        record("ocr", [(minute, 30)]),
        record("qwen3-vl", [(minute - 4, 90)]),
        record(None, [(minute, 500)]),  # a cpu-only worker scores nothing
    ]
    one = throughput(records, NOW, 1)  # minute - 1 and the 30 s of this minute: 90 s
    assert one == {"ocr": pytest.approx(120 / 90), "qwen3-vl": 0.0}
    five = throughput(records, NOW, 5)
    assert five["qwen3-vl"] == pytest.approx(90 / 330)


def test_work_history_adds_to_a_minute_and_forgets_old_minutes():
    history = add_to_minute([], 100, 5)
    history = add_to_minute(history, 100, 3)
    history = add_to_minute(history, 120, 1)
    assert history == [(120, 1)]  # minute 100 is 20 minutes old: forgotten
    assert add_to_minute([(110, 2)], 111, 4) == [(110, 2), (111, 4)]


def test_heartbeat_records_windows_scored_since_the_last_update(tmp_path):
    store = LocalObjectStore(tmp_path)
    beat = Heartbeat(store, "work", ["gpu"], "ocr")
    beat.update(windows_scored=10)
    beat.update(windows_scored=16)
    beat.flush()
    (stored,) = worker_records(store, "work")
    assert stored.windows_scored == 16
    assert sum(n for _, n in stored.windows_by_minute) == 16


# ------------------------------------------------------------------------ fleet gauges


def snapshot() -> FleetSnapshot:
    return FleetSnapshot(
        taken_at=NOW,
        queues={"cpu": 0, "gpu.text": 2, "gpu.qwen3-vl": 7, "gpu.null-benchmark": 0},
        unacked=1,
        jobs=[
            JobProgress(
                job_id="a", state=JobState.running, scorer="qwen3-vl",
                videos={"scoring": 2, "succeeded": 1}, windows_planned=300, windows_done=60,
            ),
            JobProgress(
                job_id="b", state=JobState.queued, scorer="text", videos={"queued": 4},
            ),
        ],
        workers=[
            record("qwen3-vl", [(unix_minute(NOW), 120)]),
            WorkerRecord(node="c", pid=2, queues=["cpu"], scorer=None, last_seen=NOW),
        ],
    )  # fmt: skip


def samples(families) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families
        for s in family.samples
    }


def test_fleet_gauges_say_what_waits_where():
    got = samples(snapshot_metrics(snapshot()))
    assert got[("seglocate_queue_messages", (("queue", "gpu.qwen3-vl"),))] == 7
    assert got[("seglocate_queue_unacked_messages", ())] == 1
    assert got[("seglocate_windows_waiting", (("scorer", "qwen3-vl"),))] == 240
    assert got[("seglocate_windows_waiting", (("scorer", "text"),))] == 0
    assert got[("seglocate_jobs", (("state", "running"),))] == 1
    assert got[("seglocate_jobs", (("state", "queued"),))] == 1
    assert got[("seglocate_videos", (("state", "queued"),))] == 4
    assert got[("seglocate_videos", (("state", "failed"),))] == 0
    job = (("job_id", "a"), ("scorer", "qwen3-vl"))
    assert got[("seglocate_job_windows_waiting", job)] == 240
    assert got[("seglocate_job_windows_planned", job)] == 300
    assert got[("seglocate_workers", (("queue", "gpu.qwen3-vl"),))] == 1
    assert got[("seglocate_workers", (("queue", "cpu"),))] == 1
    assert got[("seglocate_workers", (("queue", "gpu.text"),))] == 0
    assert got[("seglocate_fleet_refresh_timestamp_seconds", ())] == NOW.timestamp()
    assert {q for (name, labels), _ in got.items() if name == "seglocate_workers"
            for _, q in labels} == set(broker_queue_names())  # fmt: skip


def test_stats_screen_shows_queues_jobs_and_time_left():
    out = io.StringIO()
    print_stats(snapshot(), "redis://127.0.0.1:6379/0", Console(file=out, width=120))
    text = out.getvalue()
    assert "broker redis://127.0.0.1:6379/0" in text
    assert re.search(r"gpu\.qwen3-vl\s*│\s*7\s*│\s*240\s*│\s*1", text), text
    assert "Active jobs: queued 1, running 1" in text
    # 240 windows left at 120 windows over the last 5 min and 30 s (330 s): 660 s.
    assert re.search(r"\ba\s*│\s*running\s*│\s*qwen3-vl\s*│\s*1/3\s*│\s*60/300\s*│\s*11m00s", text)
    assert re.search(r"\bb\s*│\s*queued\s*│\s*text\s*│\s*0/4\s*│\s*0/0\s*│\s*-", text)
    assert duration_text(eta_seconds(0, 0.0)) == "0s"
    assert duration_text(eta_seconds(5, 0.0)) == "-"
    assert duration_text(7300) == "2h01m"


def test_queue_depth_and_stats_refuse_embedded_mode(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["queue-depth"])
    assert exited.value.code == 2
    assert "SEGLOCATE_BROKER_URL" in capsys.readouterr().err


# ------------------------------------------------------------------------ GPU memory


def test_gpu_memory_is_not_exported_without_nvml():
    """No NVIDIA driver here: the collector exists, exports nothing, raises nothing."""
    collector = GpuMemoryCollector()
    assert not collector.available
    assert list(collector.collect()) == []


class StandInNvml:
    """Answers like pynvml for two 80 GiB devices (the driver is absent on this machine)."""

    class Memory:
        def __init__(self, used: int) -> None:
            self.used, self.total = used, 80 << 30

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> int:
        return {"GPU-b": 1}[uuid]

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> StandInNvml.Memory:
        return self.Memory((handle + 1) << 30)


def test_gpu_memory_reports_the_workers_devices():
    everything = samples(GpuMemoryCollector(nvml=StandInNvml()).collect())
    assert everything[("seglocate_gpu_memory_used_bytes", (("gpu", "1"),))] == 2 << 30
    assert len(everything) == 4
    mine = samples(GpuMemoryCollector(["GPU-b"], nvml=StandInNvml()).collect())
    assert mine == {
        ("seglocate_gpu_memory_used_bytes", (("gpu", "GPU-b"),)): 2 << 30,
        ("seglocate_gpu_memory_total_bytes", (("gpu", "GPU-b"),)): 80 << 30,
    }


# ------------------------------------------------------------------------ multiprocess files


def test_processes_sum_their_counters_and_a_killed_process_drops_its_live_gauges(tmp_path):
    """Three processes record into one folder (as a prefork pool does); the exporter sums the
    counters of all of them, and drops the live gauges of the one that was SIGKILLed."""
    script = textwrap.dedent(
        f"""
        import json, os, signal, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from common.settings import Settings
        from workers.metrics import multiproc, process, active
        from workers.metrics.exporter import ProcessFilesCollector
        folder = multiproc.prepare_directory({str(tmp_path / "metrics")!r})
        settings = Settings(metrics_port=1)
        children = []
        for n, end in ((3, "exit"), (4, "exit"), (5, "killed")):
            pid = os.fork()
            if pid == 0:
                process.init_step_process(settings, ["gpu"], "ocr")
                active().windows_scored.labels(scorer="ocr").inc(n)
                active().steps_in_progress.labels(step="score_batch", scorer="ocr").inc()
                if end == "exit":
                    process.exit_step_process()
                    os._exit(0)
                time.sleep(60)
            children.append(pid)
        time.sleep(1.0)
        os.kill(children[-1], signal.SIGKILL)
        for pid in children:
            os.waitpid(pid, 0)
        got = {{}}
        for family in ProcessFilesCollector(folder).collect():
            for s in family.samples:
                got[s.name + repr(sorted(s.labels.items()))] = s.value
        print(json.dumps(got))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["seglocate_windows_scored_total[('scorer', 'ocr')]"] == 12
    # The series of a process's scorer exist from its start, at 0.
    assert got["seglocate_reranker_tokens_total[('kind', 'padding'), ('scorer', 'ocr')]"] == 0
    # Two exited, one was killed with a step in progress: nothing runs, no process lives.
    assert sum(v for k, v in got.items() if k.startswith("seglocate_steps_in_progress")) == 0
    assert sum(v for k, v in got.items() if k.startswith("seglocate_worker_processes")) == 0


# ------------------------------------------------------------------------ shutdown


def slow_step(ctx, task) -> None:
    time.sleep(float(task.job_id.split("-")[1]))


def test_a_step_past_the_shutdown_grace_is_handed_back_not_failed(tmp_path):
    ctx = PipelineContext(
        settings=Settings(data_dir=tmp_path),
        store=LocalObjectStore(tmp_path),
        enqueue=lambda name, payload: None,
        scorer_for=lambda name: None,
    )
    runner = StepRunner(
        [StepCounters(), shutdown.ShutdownGuard()], steps={"seglocate.slow": (JobTask, slow_step)}
    )
    previous = shutdown.signal.getsignal(shutdown.HAND_BACK_SIGNAL)
    shutdown.install_hand_back_handler()
    try:
        quick = runner.run(ctx, "seglocate.slow", JobTask(job_id="j-0.1"))
        assert quick.outcome == StepOutcome.ok
        timer = shutdown.HandBackTimer(0.3, running=lambda: [os.getpid()]).start()
        started = time.monotonic()
        long = runner.run(ctx, "seglocate.slow", JobTask(job_id="j-30"))
        took = time.monotonic() - started
        timer.stop()
        assert long.outcome == StepOutcome.handed_back
        assert isinstance(long.error, shutdown.HandBack)
        assert 0.25 <= took < 3
        after = runner.run(ctx, "seglocate.slow", JobTask(job_id="j-0"))
        assert after.outcome == StepOutcome.handed_back  # nothing new starts once asked
        assert ctx.counters == {"steps.slow.ok": 1, "steps.slow.handed_back": 2}
    finally:
        shutdown.signal.signal(shutdown.HAND_BACK_SIGNAL, previous)
        shutdown._window.requested = False


def test_launcher_exit_code_is_zero_only_when_every_worker_exited_zero():
    assert exit_code([0, 0]) == 0
    assert exit_code([0, 1]) == 1
    assert exit_code([0, -9]) == 137


# ------------------------------------------------------------------------ the dashboard


def dashboard_panels() -> list[dict]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def test_dashboard_is_grafana_dashboard_json():
    """The fields Grafana's dashboard model requires, with a datasource variable, unique
    panel ids, panels inside the 24-column grid that do not overlap, and one query each."""
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] and board["title"] and isinstance(board["schemaVersion"], int)
    assert board["schemaVersion"] >= 36  # the panel/target datasource objects of Grafana 9+
    (variable,) = board["templating"]["list"]
    assert variable["type"] == "datasource" and variable["query"] == "prometheus"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    known = {"row", "stat", "timeseries", "table", "bargauge"}
    for panel in board["panels"]:
        assert panel["type"] in known, panel["type"]
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}  # fmt: skip
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [t["refId"] for t in panel["targets"]]
        assert panel["targets"] and len(refs) == len(set(refs))
        assert all(t["expr"].strip() and t["datasource"] == panel["datasource"]
                   for t in panel["targets"])  # fmt: skip


def test_dashboard_answers_the_operators_questions():
    titles = {p["title"] for p in dashboard_panels()}
    for needed in (
        "Throughput per scorer",
        "Queue depth",
        "Step latency p50 / p95",
        "Failures by step",
        "GPU memory in use",
        "Estimated time left per running job",
    ):
        assert needed in titles


# ------------------------------------------------------------------------ what steps report


class Recorder:
    """A PipelineObserver that keeps what it is told."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.observed: list[tuple[str, float]] = []

    def count(self, name: str, n: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def observe(self, name: str, value: float) -> None:
        self.observed.append((name, value))


def test_scoring_reports_batch_size_and_the_rerankers_padding(tmp_path):
    from common.scorers.qwen3_vl import ScoringStats
    from workers.scoring import count_feature_frames, count_scoring_call

    recorder = Recorder()
    ctx = PipelineContext(
        settings=Settings(data_dir=tmp_path), store=LocalObjectStore(tmp_path),
        enqueue=lambda name, payload: None, scorer_for=lambda name: None, observer=recorder,
    )  # fmt: skip

    class Reranker:  # what the scoring step reads of a Qwen3VLScorer after score_windows
        last_stats = ScoringStats(pairs=32, batches=4, tokens=9000, padded_tokens=12000)

    count_scoring_call(ctx, Reranker(), 32)
    count_scoring_call(ctx, object(), 5)  # a scorer without stats (ocr): batch size only
    count_feature_frames(ctx, {"frames_total": 180, "ocr_frames": [0, 7, 14]})
    assert recorder.observed == [("scoring_call_windows", 32), ("scoring_call_windows", 5)]
    assert recorder.counts == {
        "reranker_pairs": 32,
        "reranker_forward_passes": 4,
        "reranker_tokens": 9000,
        "reranker_padding_tokens": 3000,
        "feature_frames": 180,
        "ocr_frames": 3,
    }
    assert ctx.counters["ocr_frames"] == 3  # the process counters still see everything


def test_records_of_workers_gone_for_a_day_are_deleted(tmp_path):
    store = LocalObjectStore(tmp_path)
    for node, hours in (("old", 30), ("recent", 2)):
        beat = Heartbeat(store, "work", ["gpu"], "ocr")
        beat.record.node = node
        beat.flush()
        stale = beat.record.model_copy(update={"last_seen": NOW.now(UTC) - timedelta(hours=hours)})
        store.put_bytes("work", beat.key, stale.model_dump_json().encode())
    assert prune_worker_records(store, "work") == 1
    assert [r.node for r in worker_records(store, "work")] == ["recent"]

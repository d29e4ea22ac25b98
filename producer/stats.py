"""``seglocate stats``: the fleet on one screen, for operators without Prometheus.

Everything comes from :func:`common.fleet.read_fleet` (the broker's queue lengths, the store's
worker records and active jobs). Throughput is what the workers' records say they scored per
minute (each worker process keeps its last minutes of work in its heartbeat record), so it
needs no other service and covers finished jobs too.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from common.fleet import THROUGHPUT_MINUTES, FleetSnapshot, JobProgress
from common.pipeline import QUEUE_GPU

#: Active jobs listed (those with the most windows waiting first).
MAX_JOBS_SHOWN = 10
#: Minutes of throughput a job's time left is estimated from (all of its scorer's workers).
ETA_RATE_MINUTES = 5


def eta_seconds(waiting: int, windows_per_s: float) -> float | None:
    """Seconds to score ``waiting`` windows at ``windows_per_s`` (None: no throughput)."""
    if waiting == 0:
        return 0.0
    if windows_per_s <= 0:
        return None
    return waiting / windows_per_s


def duration_text(seconds: float | None) -> str:
    """``None`` -> ``-``; 75 -> ``1m15s``; 7300 -> ``2h01m``."""
    if seconds is None:
        return "-"
    total = int(seconds + 0.5)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def time_left_text(job: JobProgress, windows_per_s: float) -> str:
    """The job's windows waiting at its scorer's throughput; ``>`` while videos still wait
    for ingest (their windows are not planned yet), ``-`` when nothing is planned or scored."""
    unplanned = sum(job.videos.get(state, 0) for state in ("queued", "ingesting"))
    if unplanned and job.windows_planned == 0:
        return "-"
    text = duration_text(eta_seconds(job.windows_waiting, windows_per_s))
    return f">{text}" if unplanned and text != "-" else text


def queues_table(snapshot: FleetSnapshot) -> Table:
    table = Table(title="Queues", title_justify="left")
    table.add_column("queue")
    table.add_column("messages", justify="right")
    table.add_column("windows waiting", justify="right")
    table.add_column("live workers", justify="right")
    waiting = snapshot.windows_waiting()
    workers = snapshot.workers_by_queue()
    names = sorted(set(snapshot.queues or {}) | set(workers))
    for queue in names:
        messages = "?" if snapshot.queues is None else str(snapshot.queues.get(queue, 0))
        scorer = queue.split(".", 1)[1] if queue.startswith(f"{QUEUE_GPU}.") else None
        windows = str(waiting.get(scorer, 0)) if scorer else ""
        table.add_row(queue, messages, windows, str(workers.get(queue, 0)))
    return table


def throughput_table(snapshot: FleetSnapshot) -> Table:
    table = Table(title="Windows scored per second", title_justify="left")
    table.add_column("scorer")
    for minutes in THROUGHPUT_MINUTES:
        table.add_column(f"last {minutes} min", justify="right")
    rates = {minutes: snapshot.throughput(minutes) for minutes in THROUGHPUT_MINUTES}
    scorers = sorted({scorer for by_scorer in rates.values() for scorer in by_scorer})
    for scorer in scorers:
        table.add_row(scorer, *(f"{rates[m].get(scorer, 0.0):.2f}" for m in THROUGHPUT_MINUTES))
    return table


def jobs_table(snapshot: FleetSnapshot) -> Table:
    by_state = snapshot.jobs_by_state()
    counts = ", ".join(f"{state} {n}" for state, n in sorted(by_state.items())) or "none"
    table = Table(title=f"Active jobs: {counts}", title_justify="left")
    for column in ("job", "state", "scorer"):
        table.add_column(column)
    for column in ("videos done", "windows", "time left"):
        table.add_column(column, justify="right")
    rates = snapshot.throughput(ETA_RATE_MINUTES)
    shown: list[JobProgress] = sorted(snapshot.jobs, key=lambda j: -j.windows_waiting)
    for job in shown[:MAX_JOBS_SHOWN]:
        finished = sum(n for state, n in job.videos.items() if state in _FINISHED)
        table.add_row(
            job.job_id,
            job.state.value,
            job.scorer,
            f"{finished}/{sum(job.videos.values())}",
            f"{job.windows_done}/{job.windows_planned}",
            time_left_text(job, rates.get(job.scorer, 0.0)),
        )
    if len(shown) > MAX_JOBS_SHOWN:
        table.caption = f"... and {len(shown) - MAX_JOBS_SHOWN} more"
    return table


_FINISHED = ("succeeded", "failed", "cancelled")


def stats_view(snapshot: FleetSnapshot, broker: str) -> Group:
    """The whole screen (a rich renderable)."""
    when = snapshot.taken_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    header = Text(f"seglocate fleet at {when}; broker {broker}", style="bold")
    parts: list[Text | Table] = [header]
    if snapshot.broker_error:
        parts.append(Text(f"broker unreadable: {snapshot.broker_error}", style="red"))
    parts += [queues_table(snapshot), jobs_table(snapshot), throughput_table(snapshot)]
    return Group(*parts)


def print_stats(snapshot: FleetSnapshot, broker: str, console: Console | None = None) -> None:
    (console or Console()).print(stats_view(snapshot, broker))

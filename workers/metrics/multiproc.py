"""prometheus-client's multiprocess mode: where a worker's processes write their metrics.

Each process that records metrics writes memory-mapped files named by its pid into one folder,
``PROMETHEUS_MULTIPROC_DIR``; the exporter sums them. The process that serves the metrics owns
the folder: it empties it at start (:func:`prepare_directory`), before any pool process forks,
and every child inherits the variable. A child that exits cleanly drops its live gauges
(:func:`mark_exited`); :func:`prune_dead_processes` does it at each scrape for a child that was
killed. Counters of exited processes stay: totals never go down.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

#: The variable prometheus-client reads to switch to multiprocess mode.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Set in a worker's environment when its parent (``seglocate worker``) serves the metrics.
SERVED_BY_PARENT_ENV = "SEGLOCATE_METRICS_SERVED_BY_PARENT"

_LIVE_GAUGE_FILE = re.compile(r"^gauge_live\w*?_(\d+)\.db$")


def prepare_directory(path: str | None = None) -> Path:
    """Make (``path``, or a fresh temporary folder) the metrics folder of this process and the
    processes it starts, emptied of earlier files; returns it."""
    folder = Path(path) if path else Path(tempfile.mkdtemp(prefix="seglocate-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    os.environ[MULTIPROC_ENV] = str(folder)
    use_directory()
    return folder


def use_directory() -> Path:
    """Record this process's metrics into the folder named by the environment (set by the
    parent that serves them). prometheus-client picks its storage when imported; switch it here
    in case it was imported before the variable was set (no metric exists yet then)."""
    folder = os.environ.get(MULTIPROC_ENV)
    if not folder or not Path(folder).is_dir():
        raise RuntimeError(f"{MULTIPROC_ENV} is not set to a folder")
    from prometheus_client import values

    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue()
    return Path(folder)


def mark_exited(pid: int | None = None) -> None:
    """Drop the live gauges (steps in progress, worker processes) of an exiting process."""
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid(), folder)


def pid_alive(pid: int) -> bool:
    """True if a process with this pid runs (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def prune_dead_processes(folder: Path) -> list[int]:
    """Drop the live gauges of processes that died without :func:`mark_exited` (killed);
    returns their pids."""
    from prometheus_client import multiprocess

    dead = set()
    for path in folder.glob("gauge_live*.db"):
        match = _LIVE_GAUGE_FILE.match(path.name)
        if match and not pid_alive(int(match.group(1))):
            dead.add(int(match.group(1)))
    for pid in dead:
        multiprocess.mark_process_dead(pid, str(folder))
    return sorted(dead)

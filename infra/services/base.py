"""Process plumbing shared by the dev services: free ports, process groups, the base class."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import datetime as _dt
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

log = logging.getLogger("infra.services")

#: Every server binds here and nowhere else.
LOOPBACK = "127.0.0.1"

#: The buckets ``up`` pre-creates (the defaults of ``common.settings.Settings``).
DEFAULT_BUCKETS = ("videos", "results", "seglocate-work")


class ServiceError(RuntimeError):
    """A dev service could not be found, started or stopped."""


# --------------------------------------------------------------------------------------------
# Ports


_handed_out: set[int] = set()
_ports_lock = threading.Lock()


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True when nothing listens on ``host:port`` (checked by binding it, without SO_REUSEADDR)."""
    if not 0 < port < 65536:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = LOOPBACK, *, below: int = 65536) -> int:
    """A port that is free now and that this process has not handed out before.

    Ports come from the kernel's ephemeral range; remembering what was handed out keeps two
    servers that have not bound yet from receiving the same port.
    """
    with _ports_lock:
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                port = int(sock.getsockname()[1])
            if port < below and port not in _handed_out:
                _handed_out.add(port)
                return port
    raise ServiceError(f"no free port below {below} on {host}")


def _free_port_pair(offset: int, host: str = LOOPBACK) -> tuple[int, int]:
    """Two free ports ``p`` and ``p + offset`` (for servers that derive one port from another)."""
    for _ in range(200):
        port = free_port(host, below=65536 - offset)
        with _ports_lock:
            if port + offset not in _handed_out and port_is_free(port + offset, host):
                _handed_out.add(port + offset)
                return port, port + offset
    raise ServiceError(f"no pair of free ports {offset} apart on {host}")


# --------------------------------------------------------------------------------------------
# Processes


_live: set[_Service] = set()
_live_lock = threading.Lock()


def _stop_all_at_exit() -> None:
    with _live_lock:
        services = list(_live)
    for service in services:
        with contextlib.suppress(Exception):
            service.stop()


atexit.register(_stop_all_at_exit)

_PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):  # pragma: no cover - non-glibc systems
    _prctl = None


def _die_with_parent() -> None:  # runs in the child between fork and exec: no imports here
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def find_executable(name: str, env_var: str | None = None) -> str:
    """``$env_var``, else ``name`` next to ``sys.executable`` (a virtualenv's bin), else PATH."""
    if env_var and os.environ.get(env_var):
        return os.environ[env_var]
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    hint = f" (or set {env_var})" if env_var else ""
    raise ServiceError(f"{name}: executable not found beside {sys.executable} nor on PATH{hint}")


def _signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to a process group; False when the group no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a group we do not own
        return False
    return True


def _pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone: its parent may never reap it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _group_alive(pgid: int) -> bool:
    """True while any non-zombie process of group ``pgid`` exists (Linux /proc; else the leader)."""
    proc = Path("/proc")
    if not proc.is_dir():  # pragma: no cover
        return _pid_alive(pgid)
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _start_ticks(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (Linux), to tell a recycled pid apart."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class _Service:
    """One server process in its own process group, logging to ``workdir/<name>.log``."""

    name: ClassVar[str] = "service"

    def __init__(self, workdir: str | os.PathLike[str], *, detached: bool = False) -> None:
        self.workdir = Path(workdir).expanduser().resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.name}.log"
        #: Detached servers outlive this process (no atexit stop, no parent-death signal).
        self.detached = detached
        #: Seconds the last ``start()`` took until the server answered.
        self.start_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()

    # -- to be provided by subclasses
    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Write config files before a start."""

    def _is_ready(self) -> bool:
        raise NotImplementedError

    def _cleanup_after_stop(self) -> None:
        """Remove what the server leaves behind (stale sockets)."""

    def describe(self) -> dict[str, Any]:
        """What ``up`` records in ``services.json`` (no secrets)."""
        pid = self.pid
        return {
            "name": self.name,
            "pid": pid,
            "started_ticks": None if pid is None else _start_ticks(pid),
            "workdir": str(self.workdir),
        }

    def env(self) -> dict[str, str]:
        """``SEGLOCATE_*`` variables that point seglocate at this server."""
        return {}

    # -- lifecycle
    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    def start(self, timeout: float = 30.0) -> Self:
        """Start the server (no-op when running) and wait until it answers."""
        with self._lock:
            if self.running:
                return self
            self._prepare()
            argv = self._argv()
            use_pdeathsig = (
                not self.detached
                and _prctl is not None
                and threading.current_thread() is threading.main_thread()
            )
            started = time.monotonic()
            with open(self.log_path, "ab") as log_file:
                stamp = _dt.datetime.now().isoformat(timespec="seconds")
                log_file.write(f"\n=== {stamp} start: {shlex.join(argv)}\n".encode())
                log_file.flush()
                self._proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    cwd=self.workdir,
                    start_new_session=True,
                    preexec_fn=_die_with_parent if use_pdeathsig else None,
                )
            if not self.detached:
                with _live_lock:
                    _live.add(self)
            deadline = started + timeout
            while True:
                code = self._proc.poll()
                if code is not None:
                    self._forget()
                    raise ServiceError(
                        f"{self.name} exited with code {code} while starting; "
                        f"log {self.log_path}:\n{self.log_tail()}"
                    )
                if self._is_ready():
                    break
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServiceError(
                        f"{self.name} did not answer within {timeout:.0f}s; "
                        f"log {self.log_path}:\n{self.log_tail()}"
                    )
                time.sleep(0.05)
            self.start_seconds = time.monotonic() - started
            log.info("%s ready in %.2fs (pid %s)", self, self.start_seconds, self._proc.pid)
            return self

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the process group, wait up to ``timeout``, then SIGKILL it. Idempotent."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            try:
                if proc.poll() is None:
                    _signal_group(proc.pid, signal.SIGTERM)
                    try:
                        proc.wait(timeout)
                    except subprocess.TimeoutExpired:
                        log.warning("%s ignored SIGTERM for %.0fs; killing it", self, timeout)
                        _signal_group(proc.pid, signal.SIGKILL)
                        proc.wait()
                # The leader is gone; anything else left in its group goes too.
                _signal_group(proc.pid, signal.SIGKILL)
            finally:
                self._forget()
                self._cleanup_after_stop()

    def kill(self) -> None:
        """SIGKILL the process group at once (a crash, not a shutdown)."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            try:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
            finally:
                self._forget()
                self._cleanup_after_stop()

    def restart(self, timeout: float = 30.0) -> Self:
        """Stop, then start again with the same folder and ports."""
        self.stop()
        return self.start(timeout)

    def _forget(self) -> None:
        self._proc = None
        with _live_lock:
            _live.discard(self)

    def rss_bytes(self) -> int:
        """Resident memory of the server process (0 when not running or unknown)."""
        pid = self.pid
        return _rss_bytes(pid) if pid is not None and self.running else 0

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

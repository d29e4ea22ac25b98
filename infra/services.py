"""Real development services on free loopback ports: Redis (broker) and SeaweedFS (S3 store).

Pure standard library: the servers are started with :mod:`subprocess`, each in its own process
group, bound to 127.0.0.1 only, logging to files in a work folder. Nothing here uses docker.

Library use (tests, benchmarks)::

    with RedisServer(tmp / "redis") as redis, SeaweedS3Server(tmp / "s3") as s3:
        os.environ.update(redis.env() | s3.env())
        ...
        s3.stop(); s3.start()        # same folder, same ports: an outage, then recovery
        redis.restart()              # same port: a broker restart

Every server started in this process is stopped at interpreter exit (``atexit``), and, when it
was started from the main thread, also receives SIGTERM if this process dies without running
``atexit`` (``PR_SET_PDEATHSIG`` on Linux). ``stop()`` signals the whole process group and waits.

Command line (for people; ``infra/dev-services.sh`` wraps it)::

    python -m infra.services up --dir DIR            # prints export lines, runs until Ctrl-C
    python -m infra.services up --dir DIR --detach   # starts, writes DIR/services.json, exits
    python -m infra.services env --dir DIR           # the export lines again (DIR/env.sh)
    python -m infra.services status --dir DIR
    python -m infra.services down --dir DIR          # stops what ``up --detach`` started
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import datetime as _dt
import hashlib
import hmac
import http.client
import json
import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self
from urllib.parse import quote

log = logging.getLogger(__name__)

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


# --------------------------------------------------------------------------------------------
# Redis


def redis_command(
    port: int, *args: str, password: str | None = None, host: str = LOOPBACK, timeout: float = 2.0
) -> str:
    """Send one command (after AUTH when a password is given); return the first reply line."""

    def encode(parts: Sequence[str]) -> bytes:
        out = [f"*{len(parts)}\r\n".encode()]
        for part in parts:
            raw = part.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
        return b"".join(out)

    with socket.create_connection((host, port), timeout=timeout) as sock:
        reader = sock.makefile("rb")
        if password is not None:
            sock.sendall(encode(["AUTH", password]))
            reply = reader.readline().decode(errors="replace").rstrip("\r\n")
            if not reply.startswith("+"):
                return reply
        sock.sendall(encode(list(args)))
        return reader.readline().decode(errors="replace").rstrip("\r\n")


class RedisServer(_Service):
    """``redis-server`` on 127.0.0.1, no persistence, optional password.

    The port is chosen once, so :meth:`restart` comes back on the same URL (a broker restart).
    """

    name = "redis"

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        port: int | None = None,
        password: str | None = None,
        executable: str | None = None,
        extra_config: Mapping[str, str] | None = None,
        detached: bool = False,
    ) -> None:
        super().__init__(workdir, detached=detached)
        self.executable = executable or find_executable("redis-server", "SEGLOCATE_REDIS_SERVER")
        self.port = port or free_port()
        self.password = password
        self.extra_config = dict(extra_config or {})
        self.log_path = self.workdir / f"redis-{self.port}.log"
        self._config_path = self.workdir / f"redis-{self.port}.conf"

    def __repr__(self) -> str:
        auth = ", password=***" if self.password else ""
        return f"RedisServer(port={self.port}{auth})"

    @property
    def url(self) -> str:
        """``redis://[:password@]127.0.0.1:PORT/0``."""
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{LOOPBACK}:{self.port}/0"

    def env(self) -> dict[str, str]:
        return {"SEGLOCATE_BROKER_URL": self.url}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "port": self.port, "executable": self.executable}

    def _prepare(self) -> None:
        def quoted(value: str) -> str:
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

        settings = {
            "port": str(self.port),
            "bind": LOOPBACK,
            "protected-mode": "yes",
            "daemonize": "no",
            "save": '""',
            "appendonly": "no",
            "dir": quoted(str(self.workdir)),
            "logfile": '""',  # stdout, which goes to the log file
        }
        if self.password:
            settings["requirepass"] = quoted(self.password)
        settings.update(self.extra_config)
        text = "".join(f"{key} {value}\n" for key, value in settings.items())
        # The password lives in a private file, not on the command line.
        fd = os.open(self._config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)

    def _argv(self) -> list[str]:
        return [self.executable, str(self._config_path)]

    def ping(self, timeout: float = 1.0) -> bool:
        """True when the server answers PING."""
        try:
            return (
                redis_command(self.port, "PING", password=self.password, timeout=timeout) == "+PONG"
            )
        except OSError:
            return False

    def _is_ready(self) -> bool:
        return self.ping(timeout=0.5)


# --------------------------------------------------------------------------------------------
# SeaweedFS (S3)


def _sigv4_get(
    host: str,
    port: int,
    path: str,
    access_key: str,
    secret_key: str,
    region: str = "us-east-1",
    timeout: float = 2.0,
) -> tuple[int, bytes]:
    """An AWS Signature V4 signed GET (enough for ListBuckets); returns (status, body)."""
    now = _dt.datetime.now(_dt.UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = now.strftime("%Y%m%d")
    payload_hash = hashlib.sha256(b"").hexdigest()
    host_header = f"{host}:{port}"
    signed_headers = "host;x-amz-content-sha256;x-amz-date"
    canonical = "\n".join(
        [
            "GET",
            path,
            "",
            f"host:{host_header}\nx-amz-content-sha256:{payload_hash}\nx-amz-date:{amz_date}\n",
            signed_headers,
            payload_hash,
        ]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers = {
        "Host": host_header,
        "x-amz-date": amz_date,
        "x-amz-content-sha256": payload_hash,
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
            f"SignedHeaders={signed_headers}, Signature={signature}"
        ),
    }
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class SeaweedS3Server(_Service):
    """``weed mini`` (master, volume, filer and S3 gateway in one process) on 127.0.0.1.

    Every port it opens is set to a free one, so several can run at once; the admin UI, WebDAV,
    Iceberg and Lance endpoints and telemetry are off. Data lives in ``workdir/seaweed-data``, so
    ``stop()`` then ``start()`` brings the same objects back on the same ports.
    """

    name = "seaweed"

    #: Port flags of ``weed mini`` (4.x) that it listens on when the above are disabled.
    PORT_FLAGS: ClassVar[tuple[str, ...]] = (
        "s3.port",
        "s3.port.grpc",
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "admin.port",
        "admin.port.grpc",
    )
    #: ``weed mini``'s maintenance worker dials the admin HTTP port + 10000 whatever
    #: ``-admin.port.grpc`` says (4.48), so the admin gRPC port is kept at that offset.
    ADMIN_GRPC_OFFSET: ClassVar[int] = 10000

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        access_key: str = "seglocate",
        secret_key: str | None = None,
        buckets: Iterable[str] = (),
        ports: Mapping[str, int] | None = None,
        executable: str | None = None,
        extra_args: Sequence[str] = (),
        detached: bool = False,
    ) -> None:
        super().__init__(workdir, detached=detached)
        self.executable = executable or find_executable("weed", "SEGLOCATE_WEED")
        self.access_key = access_key
        self.secret_key = secret_key or secrets.token_hex(20)
        self.buckets = tuple(buckets)
        self.extra_args = tuple(extra_args)
        self.ports = self._choose_ports(ports or {})
        self.data_dir = self.workdir / "seaweed-data"
        self._config_path = self.workdir / "seaweed-s3.json"
        sockets = {"s3": self.workdir / "s3.sock", "filer": self.workdir / "filer.sock"}
        # Unix socket paths are limited to 107 bytes; long work folders keep weed's /tmp default.
        self._sockets = {
            role: path for role, path in sockets.items() if len(str(path).encode()) < 100
        }

    def _choose_ports(self, given: Mapping[str, int]) -> dict[str, int]:
        unknown = set(given) - set(self.PORT_FLAGS)
        if unknown:
            raise ValueError(f"unknown weed port flags: {sorted(unknown)}")
        ports = dict(given)
        if "admin.port" not in ports:
            ports["admin.port"], ports["admin.port.grpc"] = _free_port_pair(self.ADMIN_GRPC_OFFSET)
        ports.setdefault("admin.port.grpc", ports["admin.port"] + self.ADMIN_GRPC_OFFSET)
        for flag in self.PORT_FLAGS:
            if flag not in ports:
                ports[flag] = free_port()
        if len(set(ports.values())) != len(ports):
            raise ValueError(f"weed ports must differ: {ports}")
        return ports

    def __repr__(self) -> str:  # never the secret key
        return f"SeaweedS3Server({self.endpoint!r}, access_key={self.access_key!r})"

    @property
    def port(self) -> int:
        return self.ports["s3.port"]

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``: the S3 endpoint."""
        return f"http://{LOOPBACK}:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            "SEGLOCATE_S3_ENDPOINT": self.endpoint,
            "SEGLOCATE_S3_ACCESS_KEY": self.access_key,
            "SEGLOCATE_S3_SECRET_KEY": self.secret_key,
        }

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "endpoint": self.endpoint,
            "ports": self.ports,
            "sockets": {role: str(path) for role, path in self._sockets.items()},
            "executable": self.executable,
        }

    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = {
            "identities": [
                {
                    "name": "seglocate-admin",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        fd = os.open(self._config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(config, handle, indent=2)
        for path in self._sockets.values():
            path.unlink(missing_ok=True)

    def _argv(self) -> list[str]:
        argv = [
            self.executable,
            "-logtostderr",  # glog to our log file, not weed.* files in /tmp
            "mini",
            f"-dir={self.data_dir}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            "-master.telemetry=false",
            f"-s3.config={self._config_path}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-volume.preStopSeconds=0",
        ]
        argv += [f"-{flag}={port}" for flag, port in self.ports.items()]
        argv += [f"-{role}.localSocket={path}" for role, path in self._sockets.items()]
        if self.buckets:
            argv.append(f"-bucket={','.join(self.buckets)}")
        argv += self.extra_args
        return argv

    def list_buckets(self, timeout: float = 2.0) -> list[str] | None:
        """Bucket names through a signed ListBuckets, or None when S3 does not answer 200."""
        try:
            status, body = _sigv4_get(
                LOOPBACK, self.port, "/", self.access_key, self.secret_key, timeout=timeout
            )
        except (OSError, http.client.HTTPException):
            return None
        if status != 200:
            return None
        return re.findall(r"<Name>([^<]*)</Name>", body.decode(errors="replace"))

    def _is_ready(self) -> bool:
        names = self.list_buckets(timeout=1.0)
        return names is not None and set(self.buckets) <= set(names)

    def _cleanup_after_stop(self) -> None:
        # weed removes most of its Unix sockets on shutdown, but not all (nor when killed);
        # their names hold our ports, so what is left there is ours.
        for path in _seaweed_socket_paths(self.ports, self._sockets):
            path.unlink(missing_ok=True)


def _seaweed_socket_paths(ports: Mapping[str, int], local: Mapping[str, Path]) -> list[Path]:
    """The Unix sockets ``weed mini`` makes for these ports (some in /tmp, named by port)."""
    folders = {Path("/tmp"), Path(tempfile.gettempdir())}
    paths = [*local.values()]
    for role in ("master", "volume", "filer", "s3", "admin"):
        grpc = ports.get(f"{role}.port.grpc")
        if grpc:
            paths += [folder / f"seaweedfs-{role}-grpc-{grpc}.sock" for folder in folders]
    for role in ("filer", "s3"):
        http_port = ports.get(f"{role}.port")
        if http_port and role not in local:
            paths += [folder / f"seaweedfs-{role}-{http_port}.sock" for folder in folders]
    return paths


# --------------------------------------------------------------------------------------------
# Command line


STATE_FILE = "services.json"
ENV_FILE = "env.sh"


def _export_lines(env: Mapping[str, str]) -> str:
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _read_state(directory: Path) -> dict[str, Any] | None:
    try:
        return json.loads((directory / STATE_FILE).read_text())
    except FileNotFoundError:
        return None


def _state_alive(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [s for s in state.get("services", []) if _recorded_process_alive(s)]


def _recorded_process_alive(service: Mapping[str, Any]) -> bool:
    pid = service.get("pid")
    if not isinstance(pid, int) or not _pid_alive(pid):
        return False
    # Guard against a recycled pid: the process must have started when the recorded one did.
    recorded = service.get("started_ticks")
    return recorded is None or _start_ticks(pid) in (None, recorded)


def _stop_recorded(service: Mapping[str, Any], timeout: float) -> None:
    pid = int(service["pid"])
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _group_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _group_alive(pid):
        _signal_group(pid, signal.SIGKILL)
        while _group_alive(pid) and time.monotonic() < deadline + 5:
            time.sleep(0.05)


def _cmd_up(args: argparse.Namespace) -> int:
    directory: Path = args.dir.expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    state = _read_state(directory)
    if state and _state_alive(state):
        print(
            f"services already running for {directory}; "
            f"stop them with: python -m infra.services down --dir {directory}",
            file=sys.stderr,
        )
        return 2
    services: list[_Service] = []
    try:
        if not args.no_redis:
            services.append(
                RedisServer(
                    directory / "redis",
                    port=args.redis_port,
                    password=args.redis_password,
                    detached=args.detach,
                ).start(args.timeout)
            )
        if not args.no_s3:
            ports = {"s3.port": args.s3_port} if args.s3_port else None
            services.append(
                SeaweedS3Server(
                    directory / "seaweed",
                    access_key=args.access_key,
                    secret_key=os.environ.get("SEGLOCATE_DEV_S3_SECRET_KEY") or None,
                    buckets=[b for b in args.buckets.split(",") if b],
                    ports=ports,
                    detached=args.detach,
                ).start(args.timeout)
            )
    except (ServiceError, ValueError) as exc:
        for service in services:
            service.stop()
        print(f"infra.services: {exc}", file=sys.stderr)
        return 1

    env: dict[str, str] = {}
    for service in services:
        env.update(service.env())
    exports = _export_lines(env)
    _write_private(directory / ENV_FILE, exports)
    record = {
        "dir": str(directory),
        "detached": args.detach,
        "services": [s.describe() for s in services],
        "start_seconds": {s.name: round(s.start_seconds or 0.0, 3) for s in services},
    }
    _write_private(directory / STATE_FILE, json.dumps(record, indent=2) + "\n")
    sys.stdout.write(exports)
    sys.stdout.flush()
    if args.detach:
        print(
            f"# started; stop with: python -m infra.services down --dir {directory}",
            file=sys.stderr,
        )
        return 0

    print("# running; Ctrl-C to stop", file=sys.stderr)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    code = 0
    try:
        while not stopping.wait(0.5):
            dead = [s for s in services if not s.running]
            if dead:
                for service in dead:
                    print(
                        f"infra.services: {service!r} exited; log {service.log_path}:\n"
                        f"{service.log_tail()}",
                        file=sys.stderr,
                    )
                code = 1
                break
    finally:
        for service in reversed(services):
            service.stop()
        (directory / STATE_FILE).unlink(missing_ok=True)
        (directory / ENV_FILE).unlink(missing_ok=True)
    return code


def _cmd_down(args: argparse.Namespace) -> int:
    directory: Path = args.dir.expanduser().resolve()
    state = _read_state(directory)
    if state is None:
        print(f"nothing recorded in {directory / STATE_FILE}", file=sys.stderr)
        return 0
    for service in reversed(state.get("services", [])):
        if _recorded_process_alive(service):
            _stop_recorded(service, args.timeout)
            print(f"stopped {service['name']} (pid {service['pid']})", file=sys.stderr)
    for service in state.get("services", []):
        if service.get("name") == "seaweed" and not _recorded_process_alive(service):
            local = {role: Path(p) for role, p in service.get("sockets", {}).items()}
            for path in _seaweed_socket_paths(service.get("ports", {}), local):
                path.unlink(missing_ok=True)
    (directory / STATE_FILE).unlink(missing_ok=True)
    (directory / ENV_FILE).unlink(missing_ok=True)
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    path = args.dir.expanduser().resolve() / ENV_FILE
    if not path.is_file():
        print(
            f"no {path}: run `python -m infra.services up --dir {args.dir}` first", file=sys.stderr
        )
        return 1
    sys.stdout.write(path.read_text())
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    directory: Path = args.dir.expanduser().resolve()
    state = _read_state(directory)
    if state is None:
        print("stopped")
        return 3
    alive = {s["pid"] for s in _state_alive(state)}
    for service in state.get("services", []):
        where = service.get("endpoint") or f"port {service.get('port')}"
        status = "running" if service["pid"] in alive else "dead"
        print(f"{service['name']}: {status} (pid {service['pid']}, {where})")
    return 0 if len(alive) == len(state.get("services", [])) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.services",
        description="Dev Redis and SeaweedFS (S3) on free 127.0.0.1 ports.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the services and print export lines")
    down = sub.add_parser("down", help="stop services started with up --detach")
    env = sub.add_parser("env", help="print the export lines of a running set")
    status = sub.add_parser("status", help="say whether the recorded services run")
    for p in (up, down, env, status):
        p.add_argument("--dir", type=Path, required=True, help="work folder (logs, data, state)")
    up.add_argument("--detach", action="store_true", help="leave them running and exit")
    up.add_argument("--redis-port", type=int, default=None)
    up.add_argument("--redis-password", default=None)
    up.add_argument("--s3-port", type=int, default=None)
    up.add_argument("--access-key", default="seglocate")
    up.add_argument("--buckets", default=",".join(DEFAULT_BUCKETS))
    up.add_argument("--no-redis", action="store_true")
    up.add_argument("--no-s3", action="store_true")
    up.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each server")
    down.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    handlers = {"up": _cmd_up, "down": _cmd_down, "env": _cmd_env, "status": _cmd_status}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())

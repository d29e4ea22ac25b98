"""``python -m infra.services up|down|env|status``: dev services for people."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from infra.services.base import (
    DEFAULT_BUCKETS,
    ServiceError,
    _group_alive,
    _pid_alive,
    _Service,
    _signal_group,
    _start_ticks,
)
from infra.services.redis_server import RedisServer
from infra.services.seaweed import SeaweedS3Server, _seaweed_socket_paths

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

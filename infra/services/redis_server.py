"""``redis-server`` on a free loopback port (the Celery broker in tests and development)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from infra.services.base import LOOPBACK, _Service, find_executable, free_port

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

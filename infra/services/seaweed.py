"""SeaweedFS (``weed mini``) as the S3 server in tests and development, on free ports."""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import http.client
import json
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from infra.services.base import (
    LOOPBACK,
    _free_port_pair,
    _Service,
    find_executable,
    free_port,
)

log = logging.getLogger("infra.services")

#: Volumes the dev server may hold (each bucket takes at least one).
MAX_VOLUMES = 2000
#: Size of one volume, MB: small, since dev and test objects are small.
VOLUME_SIZE_LIMIT_MB = 256

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
            # Every bucket is a collection with volumes of its own; a test session creates
            # hundreds of buckets, so allow many small volumes (the default runs out mid-suite).
            f"-volume.max={MAX_VOLUMES}",
            f"-master.volumeSizeLimitMB={VOLUME_SIZE_LIMIT_MB}",
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

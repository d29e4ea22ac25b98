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

from infra.services.base import (
    DEFAULT_BUCKETS,
    LOOPBACK,
    ServiceError,
    find_executable,
    free_port,
    port_is_free,
)
from infra.services.prometheus import PrometheusServer
from infra.services.redis_server import RedisServer, redis_command
from infra.services.seaweed import SeaweedS3Server

__all__ = [
    "DEFAULT_BUCKETS",
    "LOOPBACK",
    "PrometheusServer",
    "RedisServer",
    "SeaweedS3Server",
    "ServiceError",
    "find_executable",
    "free_port",
    "port_is_free",
    "redis_command",
]

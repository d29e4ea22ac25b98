"""Exception types. Each message names the input and the reason, in one line."""

from __future__ import annotations


class SeglocateError(Exception):
    """Base class: a failure we explain to the user in one line."""


class InvalidInputError(SeglocateError):
    """A user-supplied input (video, query, parameter) cannot be used."""

    def __init__(self, subject: str, reason: str) -> None:
        super().__init__(f"{subject}: {reason}")
        self.subject = subject
        self.reason = reason


class VideoError(InvalidInputError):
    """A video cannot be probed, decoded or found."""


class QueryError(InvalidInputError):
    """The query cannot be scored (empty, unreadable media, too long, unsupported kind)."""


class ObjectNotFoundError(SeglocateError):
    """An object key is absent from its bucket."""

    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(f"{bucket}/{key}: no such object")
        self.bucket = bucket
        self.key = key


class UnsafeKeyError(InvalidInputError):
    """An object key would escape its bucket or the store root."""


class StoreUnavailableError(SeglocateError):
    """The object store could not be reached (retryable)."""


class CorruptObjectError(SeglocateError):
    """A stored object exists but cannot be read back (bad JSON, a broken tar chunk, a
    truncated image). Caches and batch scores are deleted and rebuilt once; anything else
    fails the work that needs it."""

    def __init__(self, bucket: str, key: str, reason: str) -> None:
        super().__init__(f"{bucket}/{key}: corrupt object ({reason})")
        self.bucket = bucket
        self.key = key
        self.reason = reason


class ScorerOutputError(SeglocateError):
    """A scorer returned something that is not a score (non-finite, wrong count)."""


class BrokerUnavailableError(SeglocateError):
    """The message broker refused, timed out or could not take a message (retryable)."""


class ScorerMismatchError(SeglocateError):
    """The job asks for a scorer this worker does not serve (a deployment error: permanent)."""


def is_transient(error: BaseException) -> bool:
    """True for errors a later try may not meet: the store or broker unreachable, connection
    failures and timeouts (Redis's, kombu's and the standard library's)."""
    if isinstance(error, StoreUnavailableError | BrokerUnavailableError | TimeoutError):
        return True
    if isinstance(error, ConnectionError):
        return True
    module = type(error).__module__
    name = type(error).__name__
    return module.startswith(("redis", "kombu", "amqp")) and (
        "Connection" in name or "Timeout" in name or name == "OperationalError"
    )


class StoreFullError(SeglocateError):
    """The store has no room for an object (disk full, quota, file size limit). Not retryable
    by waiting: the video (or the upload) fails with this reason."""

    def __init__(self, bucket: str, key: str, reason: str) -> None:
        super().__init__(f"no space left in the store writing {bucket}/{key} ({reason})")
        self.bucket = bucket
        self.key = key
        self.reason = reason


class AudioError(VideoError):
    """A video's audio cannot be read: a corrupt audio stream, a refused format, no decoder."""

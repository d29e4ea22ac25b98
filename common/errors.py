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


class JobCancelledError(SeglocateError):
    """The job was cancelled; running work stops at its next check."""


class AudioError(VideoError):
    """A video's audio cannot be read: a corrupt audio stream, a refused format, no decoder."""

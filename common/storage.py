"""The ``ObjectStore`` seam: a local-folder store (embedded) and an S3 store (MinIO, SeaweedFS).

Keys are checked by :func:`common.keys.check_key`, so nothing escapes a bucket or the store root.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ValidationError

from common.errors import (
    CorruptObjectError,
    ObjectNotFoundError,
    StoreFullError,
    StoreUnavailableError,
    UnsafeKeyError,
)
from common.keys import check_key
from common.settings import Settings

log = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")


@dataclass(frozen=True)
class ObjectInfo:
    size: int  #: bytes
    etag: str  #: changes when the content changes


@runtime_checkable
class ObjectStore(Protocol):
    """Buckets of objects addressed by key. Writes of one object are atomic."""

    def ensure_bucket(self, bucket: str) -> None: ...
    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str = ...) -> None: ...
    def get_bytes(self, bucket: str, key: str) -> bytes: ...
    def put_file(self, bucket: str, key: str, path: Path) -> None: ...
    def get_file(self, bucket: str, key: str, path: Path) -> None: ...
    def local_path(self, bucket: str, key: str) -> Path | None: ...
    def exists(self, bucket: str, key: str) -> bool: ...
    def stat(self, bucket: str, key: str) -> ObjectInfo: ...
    def list_keys(self, bucket: str, prefix: str = "") -> Iterator[str]: ...
    def delete(self, bucket: str, key: str) -> None: ...


def _check_bucket(bucket: str) -> str:
    if not bucket or "/" in bucket or bucket in (".", "..") or "\\" in bucket:
        raise UnsafeKeyError(f"bucket {bucket!r}", "not a valid bucket name")
    return bucket


#: OS errors of a write that mean "no room": disk full, quota exceeded, file size limit.
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


@contextlib.contextmanager
def _store_full_on_no_space(bucket: str, key: str) -> Iterator[None]:
    """Turn an OS error meaning "no room" into :class:`StoreFullError` naming the object."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise StoreFullError(bucket, key, os.strerror(exc.errno)) from exc
        raise


class LocalObjectStore:
    """Buckets are subfolders of ``root``; objects are files. Writes go through a rename.

    A write that finds no room raises :class:`StoreFullError` and leaves no temporary file.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, bucket: str, key: str) -> Path:
        base = self.root / _check_bucket(bucket)
        path = (base / check_key(key)).resolve()
        if base.resolve() not in path.parents:
            raise UnsafeKeyError(f"object key {key!r}", "resolves outside its bucket")
        return path

    def ensure_bucket(self, bucket: str) -> None:
        (self.root / _check_bucket(bucket)).mkdir(parents=True, exist_ok=True)

    def put_bytes(
        self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> None:
        path = self._path(bucket, key)
        with _store_full_on_no_space(bucket, key):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def get_bytes(self, bucket: str, key: str) -> bytes:
        path = self._path(bucket, key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFoundError(bucket, key) from None

    def put_file(self, bucket: str, key: str, path: Path) -> None:
        target = self._path(bucket, key)
        with _store_full_on_no_space(bucket, key):
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            os.close(fd)
            try:
                # A copy, not a hard link: a link would let later in-place writes to the caller's
                # file change the stored object (S3 keeps what was uploaded). Linux copies
                # in-kernel.
                shutil.copyfile(path, tmp)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def get_file(self, bucket: str, key: str, path: Path) -> None:
        source = self._path(bucket, key)
        if not source.is_file():
            raise ObjectNotFoundError(bucket, key)
        shutil.copyfile(source, path)

    def local_path(self, bucket: str, key: str) -> Path | None:
        path = self._path(bucket, key)
        return path if path.is_file() else None

    def exists(self, bucket: str, key: str) -> bool:
        return self._path(bucket, key).is_file()

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        path = self._path(bucket, key)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise ObjectNotFoundError(bucket, key) from None
        if not path.is_file():
            raise ObjectNotFoundError(bucket, key)
        return ObjectInfo(size=st.st_size, etag=f"{st.st_size:x}-{st.st_mtime_ns:x}-{st.st_ino:x}")

    def list_keys(self, bucket: str, prefix: str = "") -> Iterator[str]:
        base = self.root / _check_bucket(bucket)
        if not base.is_dir():
            return
        # Walk only the folder that holds the prefix, not the whole bucket.
        folder = base / prefix.rsplit("/", 1)[0] if "/" in prefix else base
        if prefix and "/" in prefix:
            check_key(prefix.rsplit("/", 1)[0])
        if not folder.is_dir():
            return
        keys = []
        for dirpath, _dirnames, filenames in os.walk(folder):
            for name in filenames:
                if name.startswith(".tmp-"):
                    continue
                key = Path(dirpath, name).relative_to(base).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        yield from sorted(keys)

    def delete(self, bucket: str, key: str) -> None:
        self._path(bucket, key).unlink(missing_ok=True)


#: Seconds to keep retrying an S3 call while the server is unreachable.
S3_RETRY_WINDOW_S = 60.0


@functools.cache
def _tracking_minio() -> type:
    """A ``Minio`` client that records the multipart uploads each thread starts, so that an
    interrupted :meth:`S3ObjectStore.put_file` aborts its own uploads and no one else's
    (minio aborts on an ``Exception`` only, not on Ctrl-C, and not when the abort itself fails
    while the server is away)."""
    from minio import Minio

    class TrackingMinio(Minio):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            self.started_uploads = threading.local()

        def _create_multipart_upload(
            self, bucket_name: str, object_name: str, headers: dict[str, Any]
        ) -> str:
            upload_id: str = super()._create_multipart_upload(bucket_name, object_name, headers)
            started = getattr(self.started_uploads, "ids", None)
            if started is not None:
                started.append(upload_id)
            return upload_id

    return TrackingMinio


class S3ObjectStore:
    """An S3-compatible server through the ``minio`` client. Retries while the server is down."""

    def __init__(
        self,
        endpoint: str,
        access_key: str | None,
        secret_key: str | None,
        region: str | None = None,
        verify_tls: bool = True,
        retry_window_s: float = S3_RETRY_WINDOW_S,
    ) -> None:
        from urllib.parse import urlparse

        import urllib3

        parsed = urlparse(endpoint)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"S3 endpoint {endpoint!r}: expected http(s)://host:port")
        http_client = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5.0, read=120.0),
            maxsize=16,
            cert_reqs="CERT_REQUIRED" if verify_tls else "CERT_NONE",
            retries=urllib3.Retry(
                total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
            ),
        )
        self.endpoint = endpoint
        self.retry_window_s = retry_window_s
        self._client = _tracking_minio()(
            parsed.netloc,
            access_key=access_key,
            secret_key=secret_key,
            secure=parsed.scheme == "https",
            region=region,
            http_client=http_client,
        )
        self._known_buckets: set[str] = set()

    def __repr__(self) -> str:  # never show credentials
        return f"S3ObjectStore({self.endpoint!r})"

    def _call(self, what: str, func: Callable[[], T]) -> T:
        """Run ``func``, retrying connection failures with exponential backoff."""
        from urllib3.exceptions import HTTPError as Urllib3Error

        deadline = time.monotonic() + self.retry_window_s
        delay = 0.2
        while True:
            try:
                return func()
            except (Urllib3Error, ConnectionError, OSError) as exc:
                if time.monotonic() >= deadline:
                    raise StoreUnavailableError(
                        f"S3 server {self.endpoint} unreachable during {what}: {exc}"
                    ) from exc
                log.warning("S3 %s failed (%s); retrying in %.1fs", what, type(exc).__name__, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _not_found(self, exc: Exception) -> bool:
        from minio.error import S3Error

        return isinstance(exc, S3Error) and exc.code in (
            "NoSuchKey",
            "NoSuchObject",
            "NoSuchBucket",
        )

    def ensure_bucket(self, bucket: str) -> None:
        from minio.error import S3Error

        _check_bucket(bucket)
        if bucket in self._known_buckets:
            return

        def make() -> None:
            if not self._client.bucket_exists(bucket):
                try:
                    self._client.make_bucket(bucket)
                except S3Error as exc:
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise

        self._call(f"create bucket {bucket}", make)
        self._known_buckets.add(bucket)

    def put_bytes(
        self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> None:
        check_key(key)
        self._upload(
            f"put {bucket}/{key}",
            bucket,
            key,
            lambda: self._client.put_object(
                bucket, key, io.BytesIO(data), len(data), content_type=content_type
            ),
        )

    def get_bytes(self, bucket: str, key: str) -> bytes:
        check_key(key)

        def get() -> bytes:
            response = self._client.get_object(bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        try:
            return self._call(f"get {bucket}/{key}", get)
        except Exception as exc:
            if self._not_found(exc):
                raise ObjectNotFoundError(bucket, key) from None
            raise

    def put_file(self, bucket: str, key: str, path: Path) -> None:
        check_key(key)
        self._upload(
            f"upload {bucket}/{key}",
            bucket,
            key,
            lambda: self._client.fput_object(bucket, key, str(path)),
        )

    def _upload(self, what: str, bucket: str, key: str, upload: Callable[[], object]) -> None:
        """Run ``upload`` (multipart above 5 MiB) with retries. Interrupted (Ctrl-C, a task time
        limit, the server gone), it aborts the multipart uploads it started, so no orphaned
        parts stay; the README's bucket lifecycle rule removes any a killed process leaves."""
        started: list[str] = []
        self._client.started_uploads.ids = started
        try:
            self._call(what, upload)
        except BaseException:
            self._abort_uploads(bucket, key, started)
            raise
        else:
            self._abort_uploads(bucket, key, started[:-1])  # attempts a retry replaced
        finally:
            self._client.started_uploads.ids = None

    def _abort_uploads(self, bucket: str, key: str, upload_ids: list[str]) -> None:
        """Abort multipart uploads, once each, best effort (a failure is logged)."""
        for upload_id in upload_ids:
            try:
                self._client._abort_multipart_upload(bucket, key, upload_id)
            except Exception as exc:
                if getattr(exc, "code", None) != "NoSuchUpload":  # minio aborted it already
                    log.warning("could not abort an upload of %s/%s: %s", bucket, key, exc)

    def get_file(self, bucket: str, key: str, path: Path) -> None:
        check_key(key)
        try:
            self._call(
                f"download {bucket}/{key}", lambda: self._client.fget_object(bucket, key, str(path))
            )
        except Exception as exc:
            if self._not_found(exc):
                raise ObjectNotFoundError(bucket, key) from None
            raise

    def local_path(self, bucket: str, key: str) -> Path | None:
        return None

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self.stat(bucket, key)
        except ObjectNotFoundError:
            return False
        return True

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        check_key(key)
        try:
            info = self._call(f"stat {bucket}/{key}", lambda: self._client.stat_object(bucket, key))
        except Exception as exc:
            if self._not_found(exc) or getattr(exc, "code", None) in ("NoSuchKey", "NotFound"):
                raise ObjectNotFoundError(bucket, key) from None
            raise
        return ObjectInfo(size=int(info.size or 0), etag=str(info.etag))

    def list_keys(self, bucket: str, prefix: str = "") -> Iterator[str]:
        if prefix:
            check_key(prefix.rstrip("/") or "x")
        try:
            objects = self._call(
                f"list {bucket}/{prefix}",
                lambda: [
                    obj.object_name
                    for obj in self._client.list_objects(bucket, prefix=prefix, recursive=True)
                ],
            )
        except Exception as exc:
            if self._not_found(exc):  # a missing bucket holds no keys, as in the local store
                return
            raise
        yield from sorted(name for name in objects if name)

    def delete(self, bucket: str, key: str) -> None:
        check_key(key)
        self._call(f"delete {bucket}/{key}", lambda: self._client.remove_object(bucket, key))


def open_store(settings: Settings) -> ObjectStore:
    """The store the settings describe: S3 when ``s3_endpoint`` is set, else a local folder."""
    store: ObjectStore
    if settings.s3_endpoint:
        store = S3ObjectStore(
            settings.s3_endpoint,
            settings.s3_access_key.get_secret_value() if settings.s3_access_key else None,
            settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None,
            region=settings.s3_region,
            verify_tls=settings.s3_verify_tls,
            retry_window_s=settings.s3_retry_window_s,
        )
    else:
        store = LocalObjectStore(settings.data_dir)
    for bucket in (settings.videos_bucket, settings.results_bucket, settings.work_bucket):
        store.ensure_bucket(bucket)
    return store


def write_model(store: ObjectStore, bucket: str, key: str, model: BaseModel) -> None:
    """Store a pydantic model as JSON."""
    store.put_bytes(bucket, key, model.model_dump_json().encode(), "application/json")


def read_model(store: ObjectStore, bucket: str, key: str, model_type: type[ModelT]) -> ModelT:
    """Load and validate a pydantic model stored by :func:`write_model`.

    Raises :class:`ObjectNotFoundError` if it is absent and :class:`CorruptObjectError`,
    naming the object, if it is not a valid ``model_type`` (truncated, hand-edited, garbage).
    """
    data = store.get_bytes(bucket, key)
    try:
        return model_type.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid"}
        reason = f"not a valid {model_type.__name__}: {first['msg']}"
        raise CorruptObjectError(bucket, key, reason) from None


def read_model_or_none(
    store: ObjectStore, bucket: str, key: str, model_type: type[ModelT]
) -> ModelT | None:
    try:
        return read_model(store, bucket, key, model_type)
    except ObjectNotFoundError:
        return None

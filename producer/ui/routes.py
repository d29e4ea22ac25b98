"""HTTP routes the page needs besides Gradio's, and guards in front of every request.

- ``GET /seglocate/video/{job_id}/{index}``: the job's video ``index`` (Range requests work, so the
  player can seek). A local store serves the file; an S3 store's object is downloaded once into
  a cache folder and served from there.
- ``GET /seglocate/thumbnail/{job_id}/{name}``: a clip thumbnail from the results bucket.

Both need the page's login when ``SEGLOCATE_UI_AUTH`` is set. The guard middleware refuses
requests from other web sites (a page elsewhere must not drive this one through the user's
browser) and uploads over ``SEGLOCATE_UI_MAX_UPLOAD_MB``.
"""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path
from urllib.parse import urlparse

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from common import keys
from common.errors import SeglocateError
from producer.client import Client

#: URL of a job's video ``index``.
VIDEO_ROUTE = "/seglocate/video/{job_id}/{index:int}"
#: URL of a thumbnail in the results bucket.
THUMBNAIL_ROUTE = "/seglocate/thumbnail/{job_id}/{name}"
_THUMBNAIL_NAME = re.compile(r"^\d{5}-\d{2}\.jpg$")


def video_url(job_id: str, index: int) -> str:
    return f"/seglocate/video/{job_id}/{index}"


def thumbnail_url(key: str) -> str:
    """URL of thumbnail ``{job_id}/thumbnails/{name}`` (a key from the result JSON)."""
    job_id, _, name = key.partition("/thumbnails/")
    return f"/seglocate/thumbnail/{job_id}/{name}"


class MediaFiles:
    """Finds the bytes behind a job's videos and thumbnails, as local files to serve."""

    def __init__(self, client: Client, cache_dir: Path) -> None:
        self.client = client
        self.cache_dir = cache_dir
        self._lock = threading.Lock()

    def _local(self, bucket: str, key: str, suffix: str) -> Path:
        path = self.client.store.local_path(bucket, key)
        if path is not None:
            return path
        digest = hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()[:32]
        cached = self.cache_dir / f"{digest}{suffix}"
        with self._lock:  # one download per object even when the player asks twice
            if not cached.exists():
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                partial = cached.with_suffix(".part")
                self.client.store.get_file(bucket, key, partial)
                partial.replace(cached)
        return cached

    def video(self, job_id: str, index: int) -> Path:
        spec = self.client.jobs.spec(keys.check_job_id(job_id))
        if not 0 <= index < len(spec.videos) or not spec.videos[index].key:
            raise FileNotFoundError(f"job {job_id} has no stored video {index}")
        ref = spec.videos[index]
        return self._local(ref.bucket, ref.key, Path(ref.key).suffix)

    def thumbnail(self, job_id: str, name: str) -> Path:
        if not _THUMBNAIL_NAME.match(name):
            raise FileNotFoundError(name)
        key = keys.thumbnail(job_id, int(name[:5]), int(name[6:8]))
        return self._local(self.client.settings.results_bucket, key, ".jpg")


def _logged_in(request: Request) -> bool:
    """Gradio's own login check: no auth configured, or a known session cookie."""
    app = request.app
    if getattr(app, "auth", None) is None:
        return True
    token = request.cookies.get("access-token") or request.cookies.get("access-token-unsecure")
    return token is not None and token in getattr(app, "tokens", {})


def media_routes(files: MediaFiles) -> list[Route]:
    """The routes to pass to the Gradio app (``app_kwargs={"routes": ...}``)."""

    def serve(request: Request, find) -> Response:
        if not _logged_in(request):
            return PlainTextResponse("Not authenticated", status_code=401)
        try:
            path = find()
        except (FileNotFoundError, SeglocateError):
            return PlainTextResponse("Not found", status_code=404)
        return FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})

    def video(request: Request) -> Response:
        p = request.path_params
        return serve(request, lambda: files.video(p["job_id"], p["index"]))

    def thumbnail(request: Request) -> Response:
        p = request.path_params
        return serve(request, lambda: files.thumbnail(p["job_id"], p["name"]))

    return [Route(VIDEO_ROUTE, video), Route(THUMBNAIL_ROUTE, thumbnail)]


class GuardMiddleware:
    """Refuses cross-site requests and uploads over the size limit, before Gradio sees them.

    - A request (HTTP or WebSocket) whose ``Origin`` header names another host than the one it
      was sent to is refused with 403: Gradio 3 answers any origin (CORS ``*``), so without this
      any web page the user visits could drive the local page.
    - ``POST /upload`` needs a ``Content-Length`` of at most ``max_upload_bytes`` (plus form
      overhead); the HTTP server never reads a body past its declared length.
    """

    def __init__(self, app: ASGIApp, max_upload_bytes: int) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin")
        if origin and origin != "null" and urlparse(origin).netloc != headers.get("host"):
            await self._refuse(scope, send, 403, "cross-site request refused")
            return
        if scope["type"] == "http" and scope["path"].rstrip("/").endswith("/upload"):
            limit = self.max_upload_bytes + 1024 * 1024  # multipart headers and boundaries
            length = headers.get("content-length")
            if length is None or not length.isdigit():
                await self._refuse(scope, send, 411, "uploads need a Content-Length")
                return
            if int(length) > limit:
                mb = self.max_upload_bytes // (1024 * 1024)
                await self._refuse(scope, send, 413, f"upload over the page's limit of {mb} MB")
                return
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, status: int, text: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        response = PlainTextResponse(text, status_code=status)
        await response(scope, _empty_receive, send)


async def _empty_receive():
    return {"type": "http.request", "body": b"", "more_body": False}

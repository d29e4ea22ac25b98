"""HTTP routes the page needs besides Gradio's, and the same-origin guard in front of them all.

- ``GET /seglocate/video/{job_id}/{index}``: the job's video ``index`` (Range requests work, so the
  player can seek). A local store serves the file; an S3 store's object is downloaded once into
  a cache folder and served from there.
- ``GET /seglocate/thumbnail/{job_id}/{name}``: a clip thumbnail from the results bucket.

Both need the page's login when ``SEGLOCATE_UI_AUTH`` is set. :class:`SameOriginMiddleware`
refuses requests sent by other web sites (a page elsewhere must not drive this one through the
user's browser): Gradio 6 only withholds its CORS header from them when the page is on
localhost, still runs what they send (an upload is a plain form post), and on any other address
answers every origin.
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
    """Gradio's own login check: no login configured, or the session cookie of one."""
    app = request.app
    if getattr(app, "auth", None) is None:
        return True
    cookie_id = getattr(app, "cookie_id", "")
    token = request.cookies.get(f"access-token-{cookie_id}") or request.cookies.get(
        f"access-token-unsecure-{cookie_id}"
    )
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


class SameOriginMiddleware:
    """Refuses, with 403, a request (HTTP or WebSocket) whose ``Origin`` header names another
    host than the one it was sent to, before Gradio or the media routes see it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and _cross_site(scope):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            response = PlainTextResponse("cross-site request refused", status_code=403)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _cross_site(scope: Scope) -> bool:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    origin = headers.get("origin")
    return bool(origin) and origin != "null" and urlparse(origin).netloc != headers.get("host")

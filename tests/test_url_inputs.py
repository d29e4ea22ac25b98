"""Video URLs: refused unless SEGLOCATE_ALLOW_URL_INPUTS; fetched by the producer when allowed."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest

from common.schemas import JobState, VideoState
from common.settings import Settings
from producer.client import Client
from tests import media

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def http_root(tmp_path_factory):
    """A loopback HTTP server over a folder holding clip.mp4; yields (base URL, folder)."""
    root = tmp_path_factory.mktemp("www")
    media.testsrc_clip(root / "clip.mp4", 7, size="160x90")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()


def settings(tmp_path, allow: bool) -> Settings:
    return Settings(
        data_dir=tmp_path / "store", broker_url=None, s3_endpoint=None, allow_url_inputs=allow
    )


def test_a_url_is_refused_by_default_with_the_reason(tmp_path, http_root):
    base, _ = http_root
    url = f"{base}/clip.mp4"
    result = Client(settings(tmp_path, False)).submit([url], "x", scorer="null-benchmark").wait(60)
    assert result.status == JobState.failed
    assert result.videos[0].error == f"{url}: URL inputs are disabled (SEGLOCATE_ALLOW_URL_INPUTS)"


def test_an_allowed_url_is_fetched_sampled_and_cached(tmp_path, http_root):
    base, _ = http_root
    url = f"{base}/clip.mp4"
    client = Client(settings(tmp_path, True))
    first = client.submit([url], "x", scorer="null-benchmark")
    result = first.wait(timeout=60)
    assert result.status == JobState.succeeded and result.videos[0].video == url
    assert [(w.start, w.end) for w in result.videos[0].windows] == [(0.0, 7.0)]
    second = client.submit([url], "y", scorer="null-benchmark")
    second.wait(timeout=60)
    assert second._dispatcher.runner.ctx.counters.get("frame_cache_hits") == 1


def test_a_missing_url_fails_its_video_with_the_http_status(tmp_path, http_root):
    base, _ = http_root
    url = f"{base}/nope.mp4"
    result = Client(settings(tmp_path, True)).submit([url], "x", scorer="null-benchmark").wait(60)
    assert result.videos[0].status == VideoState.failed
    assert result.videos[0].error == f"{url}: cannot download (HTTP 404 File not found)"

"""Query images are checked before they are decoded: a decompression bomb is a query error
with the reason, never a traceback or a worker out of memory."""

from __future__ import annotations

import io
import time
import tracemalloc
from pathlib import Path

import pytest
from PIL import Image

from common.errors import QueryError
from common.query_media import QUERY_IMAGE_MAX_PIXELS, decode_query_image
from common.schemas import JobState, VideoState
from common.settings import Settings
from common.storage import open_store
from producer.client import Client
from tests import media
from tests.cli import assert_one_error_line, run_cli


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return media.png_bomb(tmp_path_factory.mktemp("bomb") / "bomb.png")


def test_a_decompression_bomb_is_a_query_error_before_any_pixel_is_decoded(bomb):
    data = bomb.read_bytes()
    assert len(data) < 1 << 20
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(QueryError) as info:
        decode_query_image(data, "query image bomb.png")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert str(info.value) == (
        "query image bomb.png: too large to decode (900,000,000 pixels); a query image may have "
        "at most 67,108,864 pixels (8192x8192): scale it down"
    )
    assert peak < 16 << 20 and time.perf_counter() - started < 1.0


def test_an_image_over_the_pixel_cap_but_under_pillows_bomb_limit_is_refused(tmp_path):
    path = media.png_bomb(tmp_path / "big.png", 9000, 8000)  # 72 MP: Pillow only warns
    assert QUERY_IMAGE_MAX_PIXELS < 9000 * 8000
    with pytest.raises(QueryError, match=r"too large to decode \(72,000,000 pixels\)"):
        decode_query_image(path.read_bytes(), "query image big.png")


def test_an_ordinary_image_decodes_to_rgb():
    buf = io.BytesIO()
    Image.new("L", (640, 480), 128).save(buf, "PNG")
    image = decode_query_image(buf.getvalue(), "query image grey.png")
    assert image.mode == "RGB" and image.size == (640, 480)


def test_submit_with_a_bomb_as_query_image_prints_one_line(tmp_path, bomb):
    clip = media.colour_clip(tmp_path / "clip.mp4", "red", 2, fps=2)
    proc = run_cli(
        ["submit", str(clip), "--query-image", str(bomb), "--scorer", "null-benchmark"],
        tmp_path / "store",
    )
    assert_one_error_line(proc, f"query image {bomb}: too large to decode (900,000,000 pixels)")


def test_a_bomb_object_key_as_query_image_fails_every_video_with_the_reason(tmp_path, bomb):
    settings = Settings(data_dir=tmp_path / "store")
    open_store(settings).put_file(settings.videos_bucket, "queries/bomb.png", bomb)
    clips = [media.colour_clip(tmp_path / f"{c}.mp4", c, 2, fps=2) for c in ("red", "blue")]
    job = Client(settings).submit(clips, query_image="queries/bomb.png", scorer="null-benchmark")
    result = job.wait(timeout=120)
    assert result.status == JobState.failed
    for video in result.videos:
        assert video.status == VideoState.failed
        assert video.error == (
            "query image queries/bomb.png: too large to decode (900,000,000 pixels); a query "
            "image may have at most 67,108,864 pixels (8192x8192): scale it down"
        )

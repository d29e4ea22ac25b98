"""Hostile media through the whole pipeline (embedded mode, real ffmpeg, local store): each bad
input fails its own video (or the query) with the reason, and the rest of the job finishes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from common.schemas import JobState, VideoState
from common.settings import Settings
from common.storage import open_store
from producer.client import Client
from tests import media


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def good_clip(folder: Path) -> Path:
    return media.testsrc_clip(folder / "good.mp4", 4, fps=5, size="160x90")


def test_playlists_and_indirect_formats_fail_their_video_and_the_rest_finishes(
    tmp_path, folder, good_clip
):
    secret = media.testsrc_clip(folder / "secret.ts", 2, fps=5, size="160x90")
    playlist = media.hls_playlist(folder / "playlist.mp4", secret)
    settings = Settings(data_dir=tmp_path / "store")
    store = open_store(settings)
    videos = settings.videos_bucket
    # In place in the videos bucket: a concat list and an image2 pattern beside their targets.
    store.put_file(videos, "lib/secret.ts", secret)
    concat = media.concat_list(tmp_path / "list.mp4", "secret.ts")
    store.put_file(videos, "lib/list.mp4", concat)
    frames = tmp_path / "frames"
    frames.mkdir()
    pattern = media.image_sequence(frames)
    for path in frames.iterdir():
        store.put_file(videos, f"lib/{path.name}", path)

    result = (
        Client(settings)
        .submit(
            [good_clip, playlist, "lib/list.mp4", f"lib/{pattern.name}"],
            "x",
            scorer="null-benchmark",
        )
        .wait(timeout=120)
    )

    assert result.status == JobState.partial
    by_name = {v.video: v for v in result.videos}
    assert by_name[str(good_clip)].status == VideoState.succeeded
    expected = {str(playlist): "hls", "lib/list.mp4": "concat", f"lib/{pattern.name}": "image2"}
    for name, kind in expected.items():
        video = by_name[name]
        print(video.error)
        assert video.status == VideoState.failed and not video.windows
        assert video.error == (
            f"{name}: refused: {kind!r} is a playlist or indirect format that reads other "
            "files; only video container files are read"
        )
    assert [c.video for c in result.clips] == [str(good_clip)] * len(result.clips)
    thumbnails = list((settings.data_dir / settings.results_bucket / result.job_id).rglob("*.jpg"))
    assert len(thumbnails) == len(result.clips)
    shutil.rmtree(frames)

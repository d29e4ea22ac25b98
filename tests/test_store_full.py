"""A store that runs out of space: the write fails with a clear StoreFullError, the video fails
with "no space left", the job finishes, and the CLI prints one line (real small filesystems,
see tests/small_fs.py)."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from tests import media
from tests.cli import REPO_ROOT
from tests.small_fs import run_on_small_filesystem, tmpfs_available

MB = 1 << 20


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 1.1 MB of video whose 720p frame cache is about 4 MB."""
    return media.incompressible_frames_clip(tmp_path_factory.mktemp("full") / "noise.mp4")


def cli_env(store: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(REPO_ROOT),
        "SEGLOCATE_DATA_DIR": str(store),
    }


def seglocate(*args: str) -> list[str]:
    return [sys.executable, "-m", "producer.cli", *args]


def test_put_bytes_on_a_full_filesystem_raises_store_full_and_leaves_no_temp_file(tmp_path):
    store = tmp_path / "store"
    script = textwrap.dedent(
        f"""
        from common.errors import StoreFullError
        from common.storage import LocalObjectStore
        store = LocalObjectStore({str(store)!r})
        store.put_bytes("work", "small.json", b"{{}}")
        try:
            store.put_bytes("work", "big/chunk.tar", b"x" * (2 << 20))
        except StoreFullError as exc:
            print("refused:", exc)
        """
    )
    proc = run_on_small_filesystem([sys.executable, "-c", script], store, 1 * MB, cli_env(store))
    assert proc.returncode == 0, proc.stderr
    reason = "No space left on device" if tmpfs_available() else "File too large"
    assert proc.stdout == (
        f"refused: no space left in the store writing work/big/chunk.tar ({reason})\n"
    )
    assert sorted(p.name for p in (store / "work").rglob("*")) == ["big", "small.json"]


def test_a_full_store_fails_the_video_with_no_space_left_and_the_job_finishes(tmp_path, clip):
    store = tmp_path / "store"
    args = ["locate", str(clip), "--query", "x", "--scorer", "ocr", "--no-progress"]
    proc = run_on_small_filesystem(seglocate(*args), store, 3 * MB, cli_env(store))
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 1  # the job failed: its only video failed
    assert "Traceback" not in proc.stderr
    failures = [line for line in proc.stderr.splitlines() if line.startswith("failed: ")]
    assert len(failures) == 1
    assert failures[0].startswith(f"failed: {clip}: no space left in the store writing ")
    (result_path,) = (store / "results").glob("*/result.json")
    result = json.loads(result_path.read_text())
    assert result["status"] == "failed"
    assert "no space left in the store" in result["videos"][0]["error"]
    assert not list((store / "seglocate-work" / "active").glob("*")), "the job is still active"
    assert not list((store / "seglocate-work").rglob("chunk-*.tar")), "partial frames kept"


def test_submit_to_a_store_too_small_for_the_upload_prints_one_line(tmp_path, clip):
    store = tmp_path / "store"
    args = ["submit", str(clip), "--query", "x", "--scorer", "ocr"]
    proc = run_on_small_filesystem(seglocate(*args), store, 512 * 1024, cli_env(store))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr.startswith("seglocate: error: no space left in the store writing videos/")
    assert proc.stderr.count("\n") == 1 and proc.stdout == ""

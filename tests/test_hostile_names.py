"""User-controlled strings (file names, queries, errors, payload ids) never forge lines or send
escape sequences: every human output escapes control characters, and worker logs carry a
payload's job id only once it is validated."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import pytest

from common.logcontext import ContextFilter, JsonFormatter, TextFormatter, work_context
from common.printable import printable
from tests import media
from tests.cli import run_cli

#: What a terminal would obey: escape sequences, carriage returns, bells, bidi overrides.
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
#: A name that recolours the terminal and forges a row of the results table.
HOSTILE = "red\x1b[31mpwned\x1b[0m\n   1  forged.mp4  00:00-00:05  100.0  -\rX\u202egpj.mp4"


def test_printable_escapes_control_characters_and_keeps_the_rest():
    assert printable("lecture 1 — 元素周期表.mp4") == "lecture 1 — 元素周期表.mp4"
    assert printable("a\nb\tc\rd\x1b[31m\x07\x00\x7f\x9b") == (
        "a\\nb\\tc\\rd\\x1b[31m\\x07\\x00\\x7f\\x9b"
    )
    assert printable("x\u2028y\u202egpj.exe") == "x\\u2028y\\u202egpj.exe"
    assert printable(42) == "42"


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("names")
    return {
        "good": media.colour_clip(folder / f"{HOSTILE}.mp4", "red", 6, fps=2),
        "bad": media.not_a_video(folder / f"notes{HOSTILE}.mp4"),
    }


def assert_no_raw_controls(text: str) -> None:
    assert not RAW_CONTROL.search(text), repr(text)


def test_locate_status_and_results_escape_hostile_names_and_queries(tmp_path, hostile_files):
    store = tmp_path / "store"
    good, bad = hostile_files["good"], hostile_files["bad"]
    query = "slide\x1b]0;pwned\x07 title"
    args = ["locate", str(good), str(bad), "--query", query, "--scorer", "null-benchmark"]
    locate = run_cli([*args, "--no-progress", "--min-score", "0"], store)
    assert locate.returncode == 0, locate.stderr
    job_id = locate.stdout.split(":", 1)[0].removeprefix("job ")
    status = run_cli(["status", job_id], store)
    results = run_cli(["results", job_id], store)
    for proc in (locate, status, results):
        print(proc.stdout + proc.stderr)
        assert_no_raw_controls(proc.stdout + proc.stderr)
        assert "\\x1b[31mpwned\\x1b[0m\\n   1  forged.mp4" in proc.stdout
    for proc in (locate, results):
        lines = proc.stdout.splitlines()
        assert "query 'slide\\x1b]0;pwned\\x07 title'" in lines[0]
        assert [line.split()[0] for line in lines[2:-1]] == ["1"], "a forged table row"
        assert f"failed: {printable(bad)}: not a video file" in proc.stderr
    lines = status.stdout.splitlines()
    assert len(lines) == 3 and "succeeded" in lines[1] and "failed" in lines[2]


def test_an_error_naming_a_hostile_file_is_one_escaped_line(tmp_path):
    args = [
        "submit",
        "x.mp4",
        "--query-image",
        f"{tmp_path}/{HOSTILE}.png",
        "--scorer",
        "null-benchmark",
    ]
    proc = run_cli(args, tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert_no_raw_controls(proc.stderr)
    assert "\\x1b[31mpwned" in proc.stderr


def log_line(job_id: object, video: object, message: str, *args: object, fmt: str = "text") -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logger = logging.getLogger(f"test.hostile.{fmt}")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        with work_context(job_id, video):  # type: ignore[arg-type]
            logger.warning(message, *args)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_a_valid_job_id_is_logged_as_it_is():
    line = log_line("20261130-101010-ab12cd34", 3, "scored")
    assert " job=20261130-101010-ab12cd34 video=3 " in line


@pytest.mark.parametrize(
    "crafted", ["../../etc\n2026-01-01 INFO job=forged", "\x1b[2Jwiped", {"a": 1}, 7]
)
def test_a_crafted_job_id_is_marked_invalid_and_escaped_in_worker_logs(crafted):
    line = log_line(crafted, "0\nforged", "step %s failed for %s", "x", "name\x1b[31m\r")
    print(line)
    assert line.count("\n") == 1 and line.endswith("\n")
    assert_no_raw_controls(line)
    assert " job=invalid:" in line and " video=0\\nforged " in line
    assert line.rstrip("\n").endswith("step x failed for name\\x1b[31m\\r")
    raw = log_line(crafted, 1, "hi %s", "\x1b[31m\x9b\u202e", fmt="json")
    assert_no_raw_controls(raw)
    entry = json.loads(raw)  # JSON escapes them; a reader gets the text back
    assert entry["job_id"].startswith("invalid:") and entry["message"] == "hi \x1b[31m\x9b\u202e"

"""The two-stage benchmark's harness on a tiny generated library: lectures render, every query
has a known target, and the full-scan path finds it (the reference two-stage search must match)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.bench_two_stage import build_library, queries_for, search
from benchmarks.lecture_library import TARGETS, lectures
from common.settings import Settings
from producer.client import Client


def test_the_full_library_has_fifty_lectures_and_a_query_per_target() -> None:
    library = lectures(50)
    hours = sum(lecture.duration for lecture in library) / 3600
    assert len(library) == 50 and hours >= 2.5
    texts = [(s.title, s.bullets) for lecture in library for s in lecture.slides]
    assert len(texts) == len(set(texts))  # every slide is distinct
    assert len(queries_for([(lecture, Path("unused")) for lecture in library])) == len(TARGETS)
    assert len(TARGETS) >= 20


@pytest.mark.slow
def test_the_full_scan_finds_each_target_of_a_tiny_library(tmp_path: Path) -> None:
    library = build_library(count=2, slides=4, folder=tmp_path / "lectures")
    videos = [path for _, path in library]
    client = Client(Settings(data_dir=tmp_path / "store", broker_url=None, s3_endpoint=None))
    queries = queries_for(library)
    assert len(queries) == 2
    for query, name, start, end in queries:
        top, seconds = search(client, videos, query, "all")
        assert top is not None and seconds > 0
        assert top.video == name and top.start < end and top.end > start, (query, top)

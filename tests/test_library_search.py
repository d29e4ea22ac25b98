"""Library search end to end in embedded mode (real ffmpeg, OCR, text embedder, tantivy, FAISS):
index once, recall candidates, rerank only those."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import InvalidInputError
from common.schemas import JobResult, JobState, VideoState
from common.settings import Settings
from producer.client import Client
from producer.sample_lecture import Slide, SlideSpan, make_lecture
from tests.cli import assert_one_error_line, run_cli

pytestmark = pytest.mark.slow

#: Three short lectures on different subjects: 30 s each, six 5 s windows each.
LIBRARY = {
    "physics": (
        Slide("Newton's Second Law", ("Force equals mass times acceleration",), 10),
        Slide("Free-Body Diagrams", ("Draw every force acting on the object",), 10),
        Slide("Momentum", ("Mass times velocity is conserved",), 10),
    ),
    "statistics": (
        Slide("Sampling", ("Draw a random sample from the population",), 10),
        Slide("Confidence Intervals", ("A range of plausible values for a parameter",), 10),
        Slide("Hypothesis Testing", ("Null hypothesis and p-values",), 10),
    ),
    "chemistry": (
        Slide("Chemical Bonds", ("Ionic and covalent bonds",), 10),
        Slide("Reaction Rates", ("Temperature speeds up reactions",), 10),
        Slide("Acids and Bases", ("The pH scale runs from 0 to 14",), 10),
    ),
}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[SlideSpan]]]:
    folder = tmp_path_factory.mktemp("library")
    return {
        name: (folder / f"{name}.mp4", make_lecture(folder / f"{name}.mp4", slides, (640, 360)))
        for name, slides in LIBRARY.items()
    }


def settings_for(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "store",
        index_cache_dir=tmp_path / "index-cache",
        broker_url=None,
        s3_endpoint=None,
    )


def paths(library: dict[str, tuple[Path, list[SlideSpan]]], *names: str) -> list[Path]:
    return [library[name][0] for name in names or library]


def span_of(library, name: str, title: str) -> SlideSpan:
    return next(s for s in library[name][1] if s.title == title)


def counters(job) -> dict[str, int]:
    return dict(job._dispatcher.runner.ctx.counters)


def reranked_spans(result: JobResult, video: Path) -> list[tuple[float, float]]:
    found = next(v for v in result.videos if v.video == str(video))
    return [(w.start, w.end) for w in found.windows if w.reranked]


@pytest.mark.parametrize(
    ("query", "name", "title"),
    [
        ("confidence intervals", "statistics", "Confidence Intervals"),
        ("free-body diagrams", "physics", "Free-Body Diagrams"),
        ("acids and bases", "chemistry", "Acids and Bases"),
    ],
)
def test_two_stage_search_finds_the_slide_and_agrees_with_the_full_scan(
    tmp_path, library, query, name, title
):
    client = Client(settings_for(tmp_path))
    two_stage = client.submit(paths(library), query, recall=4).wait(timeout=300)
    full = client.submit(paths(library), query, recall="all").wait(timeout=300)
    assert two_stage.status == JobState.succeeded
    top = two_stage.clips[0]
    truth = span_of(library, name, title)
    assert top.video == str(library[name][0])
    assert top.start < truth.end and truth.start < top.end
    assert (top.video, top.start, top.end) == (
        full.clips[0].video,
        full.clips[0].start,
        full.clips[0].end,
    )
    # Only the recalled windows (and their neighbours) were reranked, across the whole job.
    assert two_stage.recall is not None and full.recall is None
    assert two_stage.recall.windows == 18 and two_stage.recall.signals[0] == "text"
    reranked = sum(w.reranked for v in two_stage.videos for w in v.windows)
    assert reranked == two_stage.recall.reranked and 1 <= reranked <= 4
    assert all(w.reranked for v in full.videos for w in v.windows)
    for video in two_stage.videos:  # every window is in the result; the rest score 0
        assert len(video.windows) == 6
        assert all(w.score == 0 for w in video.windows if not w.reranked)


def test_a_paraphrase_is_recalled_by_the_text_embedder(tmp_path, library):
    client = Client(settings_for(tmp_path))
    query = "how sure can we be about the estimate"
    result = client.submit(paths(library), query, recall=2).wait(timeout=300)
    assert result.recall is not None
    assert any(s.startswith("vector:text") for s in result.recall.signals)
    truth = span_of(library, "statistics", "Confidence Intervals")
    spans = reranked_spans(result, library["statistics"][0])
    assert any(start < truth.end and truth.start < end for start, end in spans), spans


def test_an_indexed_library_is_searched_without_decoding_ocr_or_embedding(tmp_path, library):
    client = Client(settings_for(tmp_path))
    indexing = client.index(paths(library))
    indexed = indexing.wait(timeout=300)
    assert indexed.status == JobState.succeeded and indexed.purpose == "index"
    assert indexed.query is None and indexed.clips == []
    assert [v.status for v in indexed.videos] == [VideoState.succeeded] * 3
    first = counters(indexing)
    assert first["decodes"] == 3 and first["shards_written"] == 3
    assert first["windows_embedded"] == 18  # the bundled text embedder, one vector per window

    search = client.submit(paths(library), "momentum", recall=3)
    result = search.wait(timeout=300)
    assert result.clips[0].video == str(library["physics"][0])
    again = counters(search)
    for name in ("decodes", "feature_extractions", "windows_embedded", "shards_written"):
        assert name not in again, (name, again)
    assert again["shards_reused"] == 3 and again["frame_cache_hits"] == 3


def test_adding_a_video_adds_its_shard_to_the_cached_index(tmp_path, library):
    client = Client(settings_for(tmp_path))
    first = client.submit(paths(library, "physics", "statistics"), "momentum", recall=3)
    first.wait(timeout=300)
    assert counters(first)["index_videos_added"] == 2
    second = client.submit(paths(library), "reaction rates", recall=3)
    result = second.wait(timeout=300)
    assert counters(second)["index_videos_added"] == 1  # only the new video is read
    assert result.clips[0].video == str(library["chemistry"][0])


def test_a_job_within_the_budget_is_the_full_scan(tmp_path, library):
    client = Client(settings_for(tmp_path))
    within = client.submit(paths(library, "physics"), "momentum", recall=200).wait(timeout=300)
    full = client.submit(paths(library, "physics"), "momentum", recall="all").wait(timeout=300)
    assert within.recall is not None and "every window is scored" in (within.recall.note or "")
    assert [c.model_dump(exclude={"thumbnail"}) for c in within.clips] == [
        c.model_dump(exclude={"thumbnail"}) for c in full.clips
    ]
    assert within.videos[0].windows == full.videos[0].windows


@pytest.mark.parametrize(
    ("value", "reason"),
    [(0, "at least 1 window"), (-3, "at least 1 window"), ("many", "not a number")],
)
def test_bad_recall_values_are_refused(tmp_path, library, value, reason):
    with pytest.raises(InvalidInputError, match=reason):
        Client(settings_for(tmp_path)).submit(paths(library, "physics"), "x", recall=value)


def test_the_cli_refuses_a_bad_recall_and_an_empty_folder_to_index(tmp_path, library):
    store = tmp_path / "store"
    proc = run_cli(["locate", str(library["physics"][0]), "--query", "x", "--recall", "0"], store)
    assert_one_error_line(proc, "recall must be at least 1 window")
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_cli(["index", str(empty)], store)
    assert_one_error_line(proc, "no videos to index")


def test_the_cli_says_how_many_windows_recall_reranked(tmp_path, library):
    store = tmp_path / "store"
    args = ["locate", *map(str, paths(library)), "--query", "momentum", "--recall", "3"]
    proc = run_cli([*args, "--no-progress"], store, timeout=300)
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("reranked"))
    assert line.startswith("reranked 3 of 18 windows (recall 3: text, vector:text-384-"), line
    index = run_cli(["index", *map(str, paths(library)), "--no-progress"], store, timeout=300)
    assert index.returncode == 0, index.stderr
    assert "succeeded; indexed 3 of 3 videos (0.03 h)" in index.stdout


def test_a_query_recall_finds_nothing_for_ends_with_no_clip_and_nothing_reranked(tmp_path, library):
    settings = settings_for(tmp_path).model_copy(update={"text_embedder": "off"})
    result = Client(settings).submit(paths(library), "zebra xylophone", recall=3).wait(timeout=300)
    assert result.status == JobState.succeeded and result.clips == []
    assert result.recall is not None and result.recall.signals == ["text"]
    assert result.recall.reranked == 0
    assert all(not w.reranked for v in result.videos for w in v.windows)
    assert [v.status for v in result.videos] == [VideoState.succeeded] * 3

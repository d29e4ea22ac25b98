"""The ``ocr`` scorer on rendered slides with a moving speaker inset: real RapidOCR, no mocks."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from common.errors import QueryError, SeglocateError
from common.frame_change import thumbnail
from common.scorers.base import LoadedQuery, SampledFrame, WindowInput
from common.scorers.text import TextScorer

FONT_DIR = "/usr/share/fonts/truetype/dejavu/"
TITLE_FONT = FONT_DIR + "DejaVuSans-Bold.ttf"
BODY_FONT = FONT_DIR + "DejaVuSans.ttf"
CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
SIZE = (960, 540)
#: Seconds per window; frames are sampled at 1 fps, so a window is this many frames.
WINDOW = 3

#: (title, bullets, font for both, seconds on screen); the second law slide reveals its bullet.
DECK: list[tuple[str, list[str], str | None, int]] = [
    (
        "Photosynthesis",
        ["Plants turn light into chemical energy", "Chlorophyll absorbs red light"],
        None,
        6,
    ),
    ("Newton's Second Law", [], None, 3),
    ("Newton's Second Law", ["Force equals mass times acceleration"], None, 3),
    ("Newton's Third Law", ["Every action has an equal and opposite reaction"], None, 6),
    ("元素周期表", ["门捷列夫于1869年发表"], CJK_FONT, 6),
]


def render_slide(title: str, bullets: list[str], font: str | None) -> Image.Image:
    image = Image.new("RGB", SIZE, (250, 250, 245))
    draw = ImageDraw.Draw(image)
    draw.text((50, 40), title, fill=(20, 30, 90), font=ImageFont.truetype(font or TITLE_FONT, 40))
    body = ImageFont.truetype(font or BODY_FONT, 26)
    for row, bullet in enumerate(bullets):
        draw.text((60, 130 + 50 * row), "• " + bullet, fill=(10, 10, 10), font=body)
    return image


def with_inset(slide: Image.Image, t: int) -> Image.Image:
    """Paste a 240x135 speaker inset in the bottom-right corner, moving and noisy every frame."""
    width, height = 240, 135
    yy, xx = np.mgrid[0:height, 0:width]
    inset = np.empty((height, width, 3), np.float32)
    inset[...] = (70, 90, 110)
    cx, cy = width / 2 + 40 * np.sin(1.3 * t), height / 2 + 10 * np.sin(2.1 * t)
    inset[(xx - cx) ** 2 + (yy - cy) ** 2 < 38**2] = (220, 180, 150)
    inset += np.random.default_rng(t).normal(0, 6, inset.shape)
    frame = slide.copy()
    frame.paste(
        Image.fromarray(np.clip(inset, 0, 255).astype(np.uint8)),
        (SIZE[0] - width - 15, SIZE[1] - height - 15),
    )
    return frame


def lecture_frames() -> list[SampledFrame]:
    """The deck at 1 fps: 24 frames, each with the inset in a new position."""
    frames: list[SampledFrame] = []
    for title, bullets, font, seconds in DECK:
        slide = render_slide(title, bullets, font)
        for _ in range(seconds):
            t = len(frames)
            frames.append(SampledFrame(index=t, time=float(t), image=with_inset(slide, t)))
    return frames


def windows(total: int) -> list[WindowInput]:
    return [
        WindowInput(
            start=float(s),
            end=float(s + WINDOW),
            frame_indices=list(range(s, min(s + WINDOW, total))),
        )
        for s in range(0, total, WINDOW)
    ]


@pytest.fixture(scope="module")
def scorer() -> TextScorer:
    return TextScorer()


@pytest.fixture(scope="module")
def lecture(scorer: TextScorer) -> dict[str, Any]:
    """Features of the rendered lecture, through a JSON round trip as the pipeline caches them."""
    return json.loads(json.dumps(scorer.extract_features(iter(lecture_frames()))))


def window_scores(scorer: TextScorer, features: dict[str, Any], text: str) -> list[float]:
    return scorer.score_windows(
        LoadedQuery(text=text),
        windows(features["frames_total"]),
        features,
    )


def best_windows(scores: list[float]) -> set[int]:
    top = max(scores)
    return {i for i, score in enumerate(scores) if score == top}


# -- what the scorer declares ----------------------------------------------------------------


def test_scorer_declares_text_queries_and_a_720p_budget(scorer: TextScorer) -> None:
    assert scorer.info.name == "text"
    assert scorer.info.model_id == "rapidocr-PP-OCRv6-small"
    assert scorer.info.revision and scorer.info.revision[0].isdigit()
    assert scorer.query_kinds == frozenset({"text"})
    assert scorer.frame_requirements.max_pixels == 1280 * 720
    assert scorer.needs_window_pixels is False
    assert scorer.features_id and scorer.info.revision in scorer.features_id


def test_image_query_is_refused(scorer: TextScorer) -> None:
    with pytest.raises(QueryError, match="takes a text query only"):
        scorer.check_query(LoadedQuery(text="force", image=Image.new("RGB", (8, 8))))


def test_video_query_is_refused(scorer: TextScorer) -> None:
    clip = [SampledFrame(index=0, time=0.0, image=Image.new("RGB", (8, 8)))]
    with pytest.raises(QueryError, match="takes a text query only"):
        scorer.check_query(LoadedQuery(video_frames=clip))


@pytest.mark.parametrize("text", [None, "", "   "])
def test_empty_text_query_is_refused(scorer: TextScorer, text: str | None) -> None:
    with pytest.raises(QueryError, match="empty"):
        scorer.check_query(LoadedQuery(text=text))


def test_punctuation_only_query_is_refused(scorer: TextScorer) -> None:
    with pytest.raises(QueryError, match="no words"):
        scorer.check_query(LoadedQuery(text="?!"))


def test_scoring_without_features_is_an_error(scorer: TextScorer) -> None:
    with pytest.raises(SeglocateError, match="features"):
        scorer.score_windows(LoadedQuery(text="force"), windows(3), None)


# -- features: OCR once per slide state ------------------------------------------------------


@pytest.mark.slow
def test_features_cover_every_frame(lecture: dict[str, Any]) -> None:
    assert lecture["version"] == 1
    assert lecture["frames_total"] == 24
    covered = [i for first, last, _ in lecture["runs"] for i in range(first, last + 1)]
    assert covered == list(range(24))


@pytest.mark.slow
def test_far_fewer_frames_are_ocrd_than_sampled(lecture: dict[str, Any]) -> None:
    ocr_frames = lecture["ocr_frames"]
    # 5 slide states, plus the first frames before the inset is known to move.
    assert len(ocr_frames) <= 8, ocr_frames
    assert {0, 6, 9, 12, 18} <= set(ocr_frames)


@pytest.mark.slow
def test_texts_are_read_confidently(lecture: dict[str, Any]) -> None:
    lines = {line for text in lecture["texts"] for line in text}
    assert "Newton's Third Law" in lines
    assert "元素周期表" in lines


# -- scores: the right slide's windows first -------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("query", "expected_windows"),
    [
        ("Newton's third law", {4, 5}),
        ("equal and opposite reaction", {4, 5}),
        ("chlorophyll", {0, 1}),
        ("photosynthesis in plants", {0, 1}),
        ("元素周期表", {6, 7}),
        ("门捷列夫", {6, 7}),
    ],
)
def test_right_slide_scores_highest(
    scorer: TextScorer, lecture: dict[str, Any], query: str, expected_windows: set[int]
) -> None:
    scores = window_scores(scorer, lecture, query)
    assert best_windows(scores) == expected_windows, scores
    assert max(scores) > 90


@pytest.mark.slow
def test_revealed_bullet_is_found_from_its_reveal_on(
    scorer: TextScorer, lecture: dict[str, Any]
) -> None:
    scores = window_scores(scorer, lecture, "force equals mass times acceleration")
    assert best_windows(scores) == {3}  # frames 9-11; frames 6-8 show the title only
    assert scores[2] < 20


@pytest.mark.slow
def test_absent_topic_scores_near_zero(scorer: TextScorer, lecture: dict[str, Any]) -> None:
    assert max(window_scores(scorer, lecture, "quantum chromodynamics")) < 5


@pytest.mark.slow
def test_unchanged_lines_are_not_recognised_again(scorer: TextScorer) -> None:
    title_only = render_slide("Newton's Second Law", [], None)
    with_bullet = render_slide(
        "Newton's Second Law", ["Force equals mass times acceleration"], None
    )
    first = scorer.read_frame(title_only, thumbnail(title_only))
    second = scorer.read_frame(with_bullet, thumbnail(with_bullet), first)
    assert [line.text for line in second.lines if line.reused] == ["Newton's Second Law"]
    assert [line.text for line in second.lines if not line.reused] == [
        "• Force equals mass times acceleration"
    ]


def _stored_features(texts: list[list[str]]) -> dict[str, Any]:
    """Features as a worker reads them for each batch: a fresh object from stored JSON."""
    from common.scorers.text import FEATURES_VERSION

    runs = [[i, i, i] for i in range(len(texts))]
    features = {
        "version": FEATURES_VERSION,
        "frames_total": len(texts),
        "ocr_frames": list(range(len(texts))),
        "lines_recognised": sum(len(t) for t in texts),
        "runs": runs,
        "texts": texts,
    }
    return json.loads(json.dumps(features))


def test_a_matcher_is_built_once_per_query_and_video_across_batches() -> None:
    scorer = TextScorer()  # no OCR runs: scoring reads only the features
    video_a = [["Newton's Second Law", "Force equals mass times acceleration"], ["Inertia"]]
    video_b = [["Photosynthesis", "Chlorophyll absorbs red light"]]
    query = LoadedQuery(text="newton's second law")
    batch = [WindowInput(start=0.0, end=1.0, frame_indices=[0])]
    for _ in range(3):  # batches of two videos interleaved, as a gpu worker receives them
        a = scorer.score_windows(query, batch, _stored_features(video_a))
        b = scorer.score_windows(query, batch, _stored_features(video_b))
    assert scorer.matcher_builds == 2
    assert a[0] > 50 and b[0] < 10
    scorer.score_windows(LoadedQuery(text="photosynthesis"), batch, _stored_features(video_b))
    assert scorer.matcher_builds == 3  # another job's query on the same video


def test_the_matcher_cache_is_bounded() -> None:
    from common.scorers.text import MATCHER_CACHE_SIZE

    scorer = TextScorer()
    batch = [WindowInput(start=0.0, end=1.0, frame_indices=[0])]
    for n in range(MATCHER_CACHE_SIZE + 5):
        scorer.score_windows(LoadedQuery(text=f"slide {n}"), batch, _stored_features([["x"]]))
    assert len(scorer._matchers) == MATCHER_CACHE_SIZE

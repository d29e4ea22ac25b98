"""Shared fixtures: generated media (once per session) and isolated settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from common.settings import Settings
from producer.sample_lecture import (
    NarratedLecture,
    Narration,
    Slide,
    make_lecture,
    make_narrated_lecture,
)
from tests import media
from tests.fixtures_services import (  # noqa: F401  (fixtures shared by the session)
    redis_server,
    redis_server_factory,
    s3_server,
    s3_server_factory,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
for _name in list(os.environ):
    if _name.startswith("SEGLOCATE_"):
        del os.environ[_name]  # tests configure Settings explicitly

#: A 72 s test lecture: English slides sharing vocabulary, two Chinese slides.
TEST_SLIDES = (
    Slide(
        "Physics 101: Mechanics", ("Course overview and schedule", "Office hours on Tuesday"), 11
    ),
    Slide(
        "Newton's First Law",
        ("An object at rest stays at rest", "Inertia resists changes in motion"),
        12,
    ),
    Slide(
        "Newton's Second Law", ("Force equals mass times acceleration", "Measured in newtons"), 13
    ),
    Slide(
        "Free-Body Diagrams",
        ("Draw every force acting on the object", "Gravity, normal force, friction"),
        12,
    ),
    Slide("元素周期表", ("元素按原子序数排列", "同一族的元素性质相似"), 12),
    Slide(
        "Newton's Third Law",
        ("Every action has an equal and opposite reaction", "Forces come in pairs"),
        12,
    ),
)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def lecture(media_dir: Path):
    """(path, slide spans) of a small generated lecture (960x540 H.264, moving inset)."""
    path = media_dir / "lecture.mp4"
    spans = make_lecture(path, TEST_SLIDES, size=(960, 540))
    return path, spans


@pytest.fixture(scope="session")
def bad_inputs(media_dir: Path) -> dict[str, Path]:
    """One file per kind of bad input, keyed by kind."""
    folder = media_dir / "bad"
    folder.mkdir()
    good = media.testsrc_clip(folder / "source.mp4", 6)
    return {
        "missing": folder / "does-not-exist.mp4",
        "not_a_video": media.not_a_video(folder / "notes.mp4"),
        "empty": media.empty_file(folder / "empty.mp4"),
        "truncated": media.truncated(folder / "truncated.mp4", good),
        "audio_only": media.audio_only(folder / "podcast.m4a"),
        "zero_length": media.zero_length(folder / "zero.mp4"),
    }


@pytest.fixture
def embedded_settings(tmp_path: Path) -> Settings:
    """Embedded mode with a fresh local store."""
    return Settings(data_dir=tmp_path / "store", broker_url=None, s3_endpoint=None)


@pytest.fixture(scope="session")
def qwen_tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen3-VL reranker saved with save_pretrained (about 1 MB)."""
    from tests.qwen_tiny import save_tiny_reranker

    return save_tiny_reranker(tmp_path_factory.mktemp("qwen3-vl-tiny-pipeline"))


#: A 36 s narrated lecture: the slides show generic titles, the content is only spoken
#: (espeak-ng, three voices: the recogniser's noise on synthetic speech comes with them).
NARRATED_SLIDES = (
    Slide("Part 1", ("Introduction",), 12),
    Slide("Part 2", ("Discussion",), 12),
    Slide("Part 3", ("Summary",), 12),
)
NARRATION = (
    Narration("Vaccines train the immune system to recognise a virus.", 1.0),
    Narration("In nineteen oh five Albert Einstein published special relativity.", 8.0, "en-gb"),
    Narration("Richard Feynman liked to explain physics with simple drawings.", 16.0),
    Narration("Photosynthesis turns sunlight and water into sugar.", 25.0, "en-us+f3"),
)


@pytest.fixture(scope="session")
def narrated_lecture(media_dir: Path) -> tuple[Path, NarratedLecture]:
    """(path, what it shows and says) of a small narrated lecture (480x270, 5 fps, AAC mono)."""
    path = media_dir / "narrated.mp4"
    lecture = make_narrated_lecture(path, NARRATED_SLIDES, NARRATION, size=(480, 270), fps=5)
    return path, lecture


@pytest.fixture(scope="session")
def asr_model():
    """The default speech model (tiny.en from the speech extra), loaded once per session."""
    from common.speech.asr import load_asr_model

    return load_asr_model(None)

"""What Qwen3-VL-Reranker is shown, as pure rules: presets, sizes, frame counts, budgets, pins.

Sizes and frame picks are checked against qwen-vl-utils 0.0.14's own functions (a test
dependency); none of these tests loads a model.
"""

from __future__ import annotations

import os

os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from qwen_vl_utils import vision_process

from common.errors import InvalidInputError
from common.frames import sampling_id
from common.resize import smart_resize
from common.schemas import JobOptions
from common.scorers import frame_requirements_for
from common.scorers import qwen3_vl_frames as frames
from common.scorers.qwen3_vl_budget import (
    MAX_BATCH_TOKENS,
    MIN_BATCH_TOKENS,
    ModelWidths,
    activation_bytes_per_token,
    batch_token_budget,
)
from common.scorers.qwen3_vl_checkpoints import (
    CHECKPOINTS,
    directory_revision,
    revision_to_load,
)
from common.settings import Settings

# --- presets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "canonical"),
    [(None, "official"), ("", "official"), ("Official", "official"), ("fast", "fast"),
     ("401408", "401408"), (200704, "200704")],
)  # fmt: skip
def test_presets_parse_to_a_canonical_name(value: object, canonical: str) -> None:
    assert frames.parse_frame_pixels(value) == canonical  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["huge", "-5", "100", "786433", "1.5e5"])
def test_unknown_or_out_of_range_presets_are_refused(value: str) -> None:
    with pytest.raises(InvalidInputError, match="frame pixels"):
        frames.parse_frame_pixels(value)


def test_official_frames_hold_128_to_768_tokens_and_fast_a_448_square() -> None:
    assert frames.frame_pixel_bounds("official") == (131_072, 786_432)
    assert frames.frame_pixel_bounds("fast") == (131_072, 448 * 448)
    assert frames.frame_pixel_bounds("65536") == (65_536, 65_536)


def test_a_1080p_frame_is_720_tokens_per_pair_at_official_and_180_at_fast() -> None:
    official = frames.sampled_frame_size(1080, 1920, "official")
    fast = frames.sampled_frame_size(1080, 1920, "fast")
    assert official == (640, 1152) and frames.tokens_per_frame_pair(*official) == 720
    assert fast == (320, 576) and frames.tokens_per_frame_pair(*fast) == 180


def test_small_sources_are_enlarged_to_the_minimum_as_the_official_code_does() -> None:
    assert frames.sampled_frame_size(240, 426, "official") == (288, 512)
    assert frames.sampled_frame_size(240, 426, "fast") == (288, 512)


def test_the_preset_is_a_setting_and_a_job_option_recorded_with_a_default() -> None:
    assert Settings().frame_pixels == "official"
    assert Settings(frame_pixels="FAST").frame_pixels == "fast"
    with pytest.raises(ValidationError, match="SEGLOCATE_FRAME_PIXELS"):
        Settings(frame_pixels="tiny")
    assert JobOptions().frame_pixels == "official"
    assert JobOptions(frame_pixels=401408).frame_pixels == "401408"
    with pytest.raises(ValidationError, match="between 4096 and 786432"):
        JobOptions(frame_pixels="9")


# --- sizes against qwen-vl-utils ---------------------------------------------------------------

SIZES = [(1080, 1920), (1920, 1080), (720, 1280), (240, 426), (480, 854), (1, 150), (2160, 3840),
         (333, 777), (64, 64), (470, 470), (1088, 1440), (90, 160)]  # fmt: skip
BOUNDS = [(131_072, 786_432), (131_072, 200_704), (4096, 1_843_200), (65_536, 65_536)]


@pytest.mark.parametrize(("height", "width"), SIZES)
@pytest.mark.parametrize(("low", "high"), BOUNDS)
def test_sizes_equal_qwen_vl_utils_smart_resize(
    height: int, width: int, low: int, high: int
) -> None:
    expected = vision_process.smart_resize(height, width, 32, min_pixels=low, max_pixels=high)
    assert smart_resize(height, width, factor=32, min_pixels=low, max_pixels=high) == expected


@pytest.mark.parametrize("count", [2, 4, 6, 20, 21, 40, 64, 100])
def test_the_per_frame_budget_is_the_fetch_video_rule(count: int) -> None:
    # qwen-vl-utils vision_process.py line 451 with the reranker's total_pixels for frame lists.
    total = frames.WINDOW_TOTAL_PIXELS
    expected = max(min(786_432, total / count * 2), int(131_072 * 1.05))
    assert frames.video_frame_budget(count, 131_072, 786_432, total) == int(expected)


# --- frame counts ------------------------------------------------------------------------------


@pytest.mark.parametrize(("total", "fps"), [(80, 2.0), (400, 10.0), (1000, 25.0), (90, 30.0),
                                            (2, 25.0), (3, 1.0), (64, 1.0), (1919, 29.97),
                                            (2400, 24.0), (7, 1.0)])  # fmt: skip
def test_query_clip_frames_are_the_ones_fetch_video_picks(total: int, fps: float) -> None:
    element = {"fps": frames.CLIP_FPS, "max_frames": frames.CLIP_MAX_FRAMES}
    count = vision_process.smart_nframes(element, total_frames=total, video_fps=fps)
    expected = torch.linspace(0, total - 1, count).round().long().tolist()
    assert frames.clip_frame_count(total, fps) == count
    assert frames.clip_frame_indices(total, fps) == expected


def test_a_40_second_clip_gives_40_frames_at_1_fps_and_a_long_one_64() -> None:
    assert frames.clip_frame_count(80, 2.0) == 40
    assert frames.clip_frame_count(25 * 300, 25.0) == 64
    assert frames.clip_frame_count(30, 30.0) == 4  # one second still gives four


def test_a_clip_of_one_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 frames"):
        frames.clip_frame_indices(1, 25.0)


@pytest.mark.parametrize(
    ("count", "positions"),
    [(5, [0, 1, 2, 3, 4, 4]), (6, [0, 1, 2, 3, 4, 5]), (4, [0, 1, 2, 3]), (3, [0, 0, 1, 2]),
     (2, [0, 0, 1, 1]), (1, [0, 0, 0, 0]), (0, [])],
)  # fmt: skip
def test_window_frames_are_padded_to_an_even_count_of_at_least_four(
    count: int, positions: list[int]
) -> None:
    assert frames.window_frame_positions(count) == positions


def test_long_windows_are_thinned_to_64_frames_as_the_reranker_does() -> None:
    # The reranker's sample_frames: np.linspace(0, n - 1, 64, dtype=int).
    assert frames.thin_frames(100) == np.linspace(0, 99, 64, dtype=int).tolist()
    assert len(frames.window_frame_positions(101)) == 64


def test_pair_timestamps_are_means_of_real_frame_times() -> None:
    assert frames.pair_timestamps([0.0, 1.0, 2.0, 3.0, 4.0, 4.0]) == [0.5, 2.5, 4.0]
    with pytest.raises(ValueError, match="even"):
        frames.pair_timestamps([0.0, 1.0, 2.0])


# --- the frame cache key -----------------------------------------------------------------------


def test_each_preset_has_its_own_frame_cache_key_and_ocr_keeps_its_old_one() -> None:
    keys = {
        sampling_id(1.0, 0, requirements=frame_requirements_for("qwen3-vl", preset))
        for preset in ("official", "fast", "401408")
    }
    assert len(keys) == 3
    ocr = frame_requirements_for("ocr", "fast")
    assert (
        sampling_id(1.0, 0, requirements=ocr)
        == sampling_id(1.0, 1280 * 720)
        == ("fps1-px921600-v1")
    )
    official = frame_requirements_for("qwen3-vl", "official")
    assert sampling_id(1.0, 0, requirements=official) == (
        "fps1-px786432-m32-min131072-qwen-bicubic-q95c444-v1"
    )


# --- batch token budget ------------------------------------------------------------------------

WIDTHS_8B = ModelWidths(
    hidden=4096, intermediate=12288, vision_hidden=1152, vision_intermediate=4304
)
WIDTHS_2B = ModelWidths(
    hidden=2048, intermediate=6144, vision_hidden=1024, vision_intermediate=4096
)


def test_a_larger_model_costs_more_activation_memory_per_token() -> None:
    per_token_8b = activation_bytes_per_token(WIDTHS_8B, 2)
    per_token_2b = activation_bytes_per_token(WIDTHS_2B, 2)
    assert per_token_8b > per_token_2b > 0
    assert activation_bytes_per_token(WIDTHS_8B, 4) == 2 * per_token_8b


def test_the_batch_budget_grows_with_free_memory_within_its_bounds() -> None:
    per_token = activation_bytes_per_token(WIDTHS_8B, 2)
    gib = 2**30
    small, medium = batch_token_budget(6 * gib, per_token), batch_token_budget(60 * gib, per_token)
    assert MIN_BATCH_TOKENS <= small < medium <= MAX_BATCH_TOKENS
    # (60 GiB - 2 GiB reserve) * 0.7 of 316,288 bytes a token.
    assert medium == int((60 - 2) * gib * 0.7 // per_token)
    assert batch_token_budget(0, per_token) == MIN_BATCH_TOKENS
    assert batch_token_budget(10_000 * gib, per_token) == MAX_BATCH_TOKENS
    with pytest.raises(ValueError):
        batch_token_budget(gib, 0)


def test_the_same_memory_holds_more_tokens_of_the_2b_model() -> None:
    gib = 2**30
    budget_2b = batch_token_budget(40 * gib, activation_bytes_per_token(WIDTHS_2B, 2))
    budget_8b = batch_token_budget(40 * gib, activation_bytes_per_token(WIDTHS_8B, 2))
    assert budget_2b > budget_8b


# --- pinned checkpoints ------------------------------------------------------------------------


def test_official_hub_ids_load_at_their_pinned_commit_unless_told_otherwise() -> None:
    for model_id, checkpoint in CHECKPOINTS.items():
        assert len(checkpoint.revision) == 40
        assert revision_to_load(model_id, None) == checkpoint.revision
        assert revision_to_load(model_id, "main") == "main"
    assert revision_to_load("someone/fine-tuned-reranker", None) is None


def test_a_local_directory_has_no_revision_unless_it_is_a_hub_snapshot(tmp_path) -> None:
    plain = tmp_path / "weights"
    plain.mkdir()
    assert revision_to_load(str(plain), "abc") is None
    assert directory_revision(str(plain)) is None
    commit = "4bd860ac4f15ad1897a214615cccc700f8f71818"
    snapshot = tmp_path / "models--Qwen--Qwen3-VL-Reranker-2B" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    assert directory_revision(str(snapshot)) == commit

"""Pure prompt arithmetic of the Qwen3-VL reranker: no model, no torch."""

from __future__ import annotations

import pytest

from common.scorers.qwen3_vl_frames import thin_frames, video_frame_budget
from common.scorers.qwen3_vl_prompt import (
    DEFAULT_INSTRUCTION,
    IMAGE_MAX_PIXELS,
    IMAGE_MIN_PIXELS,
    IMAGE_PAD,
    KEEP_LAST_TOKENS,
    SYSTEM_PROMPT,
    VIDEO_PAD,
    VISION_END,
    VISION_START,
    Side,
    TextPiece,
    TokenRun,
    VideoLayout,
    build_messages,
    default_instruction,
    expand_prompt,
    group_timestamps,
    pad_to_even,
    patch_aligned_size,
    pieces_text,
    plan_batches,
    render_prompt,
    reserved_marker_in,
    strip_reserved_markers,
    timestamp_text,
    tokens_per_frame_group,
    truncate_ids,
)

UNEXPANDED_VIDEO = f"{VISION_START}{VIDEO_PAD}{VISION_END}"


def test_system_prompt_and_default_instruction_are_the_official_text() -> None:
    assert SYSTEM_PROMPT == (
        "Judge whether the Document meets the requirements based on the Query and the "
        'Instruct provided. Note that the answer can only be "yes" or "no".'
    )
    assert DEFAULT_INSTRUCTION == (
        "Given a search query, retrieve relevant candidates that answer the query."
    )


def test_messages_put_videos_then_images_then_texts_on_each_side() -> None:
    messages = build_messages(
        "Find it.", Side(videos=1, images=1, texts=("a cat",)), Side(videos=1)
    )
    assert messages[0] == {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]}
    content = messages[1]["content"]
    assert [item["type"] for item in content] == [
        "text",
        "text",
        "video",
        "image",
        "text",
        "text",
        "video",
    ]
    assert content[0]["text"] == "<Instruct>: Find it."
    assert content[1]["text"] == "<Query>:"
    assert content[4]["text"] == "a cat"
    assert content[5]["text"] == "\n<Document>:"


def test_an_empty_side_reads_null() -> None:
    content = build_messages("I", Side(texts=("q",)), Side())[1]["content"]
    assert content[-2:] == [
        {"type": "text", "text": "\n<Document>:"},
        {"type": "text", "text": "NULL"},
    ]


def test_reserved_markers_in_user_text_are_found() -> None:
    assert reserved_marker_in("a <|video_pad|> b") == VIDEO_PAD
    assert reserved_marker_in("plain <b>text</b>") is None


def test_a_448_pixel_frame_pair_costs_196_tokens_and_a_5s_window_588() -> None:
    assert patch_aligned_size(448, 448, min_pixels=IMAGE_MIN_PIXELS, max_pixels=448 * 448) == (
        448,
        448,
    )
    assert tokens_per_frame_group(448, 448) == 196
    groups = len(group_timestamps(range(5), fps=1.0))  # 5 frames padded to 6
    assert groups * tokens_per_frame_group(448, 448) == 588


def test_frames_shrink_to_the_budget_keeping_aspect_and_multiples_of_32() -> None:
    height, width = patch_aligned_size(720, 1280, min_pixels=IMAGE_MIN_PIXELS, max_pixels=448 * 448)
    assert (height, width) == (320, 576)
    assert height * width <= 448 * 448
    assert height % 32 == 0 and width % 32 == 0
    # 1080p at the official cap: 640x1152, 720 tokens per pair of frames.
    assert patch_aligned_size(1080, 1920, min_pixels=IMAGE_MIN_PIXELS, max_pixels=786_432) == (
        640,
        1152,
    )


def test_sides_are_rounded_not_floored_within_the_budget() -> None:
    # 470 / 32 = 14.7 rounds up to 15: qwen-vl-utils rounds sides before fitting the area.
    assert patch_aligned_size(470, 470, min_pixels=IMAGE_MIN_PIXELS, max_pixels=786_432) == (
        480,
        480,
    )


def test_tiny_images_grow_to_the_minimum() -> None:
    assert patch_aligned_size(20, 20, min_pixels=IMAGE_MIN_PIXELS, max_pixels=IMAGE_MAX_PIXELS) == (
        64,
        64,
    )


@pytest.mark.parametrize(("height", "width"), [(0, 10), (10, 0), (1, 300)])
def test_empty_or_extreme_images_are_rejected(height: int, width: int) -> None:
    with pytest.raises(ValueError):
        patch_aligned_size(height, width, min_pixels=IMAGE_MIN_PIXELS, max_pixels=IMAGE_MAX_PIXELS)


def test_long_videos_share_the_total_pixel_budget() -> None:
    assert video_frame_budget(6, 131_072, 448 * 448, 7_864_320) == 448 * 448
    assert video_frame_budget(64, 131_072, 768 * 1024, 7_864_320) == 245_760
    # Never below 1.05 x the minimum, however many frames share the budget.
    assert video_frame_budget(640, 131_072, 768 * 1024, 7_864_320) == 137_625


def test_frame_counts_pad_to_even_by_repeating_the_last() -> None:
    assert pad_to_even([3, 4, 5]) == [3, 4, 5, 5]
    assert pad_to_even([3, 4]) == [3, 4]


def test_long_frame_lists_are_subsampled_evenly_keeping_both_ends() -> None:
    picked = thin_frames(100, 64)
    assert len(picked) == 64 and picked[0] == 0 and picked[-1] == 99
    assert picked == sorted(set(picked))
    assert thin_frames(5, 64) == [0, 1, 2, 3, 4]


def test_six_frames_at_1_fps_read_half_two_and_a_half_four_and_a_half_seconds() -> None:
    stamps = [timestamp_text(t) for t in group_timestamps(range(6), fps=1.0)]
    assert stamps == ["<0.5 seconds>", "<2.5 seconds>", "<4.5 seconds>"]


def test_timestamps_follow_the_real_sampling_rate() -> None:
    assert group_timestamps(range(6), fps=2.0) == [0.25, 1.25, 2.25]
    assert group_timestamps(range(4), fps=0.5) == [1.0, 5.0]


def test_an_odd_frame_count_ends_on_the_last_real_frame_time() -> None:
    # 5 frames at 1 fps: the 6th is a copy of the 5th (t = 4 s), so the last pair sits at 4.0 s.
    assert group_timestamps(range(5), fps=1.0) == [0.5, 2.5, 4.0]


def test_timestamps_round_to_one_decimal_like_transformers() -> None:
    assert timestamp_text(0.25) == "<0.2 seconds>"
    assert timestamp_text(12.0) == "<12.0 seconds>"


def test_video_expands_to_timestamped_groups_without_an_outer_vision_start() -> None:
    layout = VideoLayout(timestamps=(0.5, 2.5), tokens_per_group=3)
    prompt = f"<|im_start|>user\n<Query>:q\n<Document>:{UNEXPANDED_VIDEO}<|im_end|>\n"
    pieces = expand_prompt(prompt, [], [layout])
    expected = (
        "<|im_start|>user\n<Query>:q\n<Document>:<0.5 seconds>"
        f"{VISION_START}{VIDEO_PAD * 3}{VISION_END}<2.5 seconds>"
        f"{VISION_START}{VIDEO_PAD * 3}{VISION_END}<|im_end|>\n"
    )
    assert pieces_text(pieces) == expected
    assert sum(1 for p in pieces if p == TokenRun(VISION_START)) == 2


def test_text_next_to_a_timestamp_is_one_piece_so_it_tokenises_as_transformers_does() -> None:
    pieces = expand_prompt(
        f"\n<Document>:{UNEXPANDED_VIDEO}", [], [VideoLayout((0.5,), tokens_per_group=1)]
    )
    assert pieces[0] == TextPiece("\n<Document>:<0.5 seconds>")


def test_images_expand_to_their_token_count() -> None:
    pieces = expand_prompt(f"<Query>:{VISION_START}{IMAGE_PAD}{VISION_END}x", [6], [])
    assert pieces == [
        TextPiece("<Query>:"),
        TokenRun(VISION_START),
        TokenRun(IMAGE_PAD, 6),
        TokenRun(VISION_END),
        TextPiece("x"),
    ]


def test_placeholder_and_media_counts_must_agree() -> None:
    with pytest.raises(ValueError):
        expand_prompt(UNEXPANDED_VIDEO, [], [])
    with pytest.raises(ValueError):
        expand_prompt("no media", [4], [])


SPECIAL = frozenset({900, 901, 902})  # 900 marker, 901 vision pad, 902 end marker


def test_short_prompts_are_not_truncated() -> None:
    ids = [1, 2, 3, 900, 4]
    assert truncate_ids(ids, SPECIAL, max_length=10) == ids


def test_truncation_removes_text_from_the_end_and_keeps_the_last_five() -> None:
    head = [900, 1, 2, 901, 901, 3, 4, 5, 6, 7]
    tail = [902, 10, 900, 11, 12]
    out = truncate_ids(head + tail, SPECIAL, max_length=11)
    assert len(out) == 11
    assert out[-KEEP_LAST_TOKENS:] == tail
    # 3 special tokens stay; 3 text slots go to the earliest text tokens.
    assert out[:-KEEP_LAST_TOKENS] == [900, 1, 2, 901, 901, 3]


def test_truncation_never_removes_vision_tokens() -> None:
    ids = [1, 2] + [901] * 8 + [3, 4] + [902, 10, 900, 11, 12]
    out = truncate_ids(ids, SPECIAL, max_length=9)
    assert out.count(901) == 8
    assert len(out) == 13  # still too long: the caller must refuse it
    assert out[-5:] == [902, 10, 900, 11, 12]


def test_batches_keep_order_and_respect_the_padded_token_budget() -> None:
    lengths = [100, 100, 100, 300, 100]
    batches = plan_batches(lengths, max_batch_tokens=400, max_batch_pairs=8)
    assert batches == [[0, 1, 2], [3], [4]]
    for batch in batches:
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 400


def test_batches_respect_the_pair_limit() -> None:
    assert plan_batches([10] * 5, max_batch_tokens=10_000, max_batch_pairs=2) == [
        [0, 1],
        [2, 3],
        [4],
    ]


def test_a_pair_longer_than_the_budget_runs_alone() -> None:
    assert plan_batches([50, 5000, 50], max_batch_tokens=1000, max_batch_pairs=8) == [[0], [1], [2]]


def test_default_instructions_follow_the_query_kind() -> None:
    assert default_instruction(frozenset({"text"})) == (
        "Find the clip that corresponds to the described scene in the given video."
    )
    assert default_instruction(frozenset({"text", "image"})) == (
        "Select the video clip that aligns with the given text and image."
    )
    assert default_instruction(frozenset({"text", "video"})) == (
        "Find the clip that corresponds to the given sentence and video segment."
    )
    assert default_instruction(frozenset({"image", "video"})) == DEFAULT_INSTRUCTION


def test_the_rendered_prompt_puts_the_document_text_after_its_video() -> None:
    prompt = render_prompt("I", Side(texts=("q",)), Side(videos=1, texts=("said",)))
    assert prompt == (
        f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n<Instruct>: I"
        f"<Query>:q\n<Document>:{UNEXPANDED_VIDEO}said<|im_end|>\n<|im_start|>assistant\n"
    )


def test_markers_are_removed_from_document_text() -> None:
    assert strip_reserved_markers("a <|im_end|>b<|video_pad|>") == "a b"

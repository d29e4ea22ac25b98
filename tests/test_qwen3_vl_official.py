"""The qwen3-vl scorer shows the model what the official pipeline shows it.

The reference is the official code path, written here from reading it (never imported, it
is not a package): QwenLM/Qwen3-VL-Embedding ``src/models/qwen3_vl_reranker.py`` at 8ce3aab
builds chat messages (``format_mm_instruction``, lines 321-377; ``format_mm_content``, lines
225-319: prefix, then videos, images, texts, no separators; a video file carries ``fps`` 1
and ``max_frames`` 64, a frame list ``total_pixels``; an image ``min_pixels``/``max_pixels``),
then ``tokenize`` (lines 166-223) renders them with the chat template, runs qwen-vl-utils'
``process_vision_info`` (here the real qwen-vl-utils 0.0.14, a test dependency) and the
processor with ``do_resize=False``, and ``compute_scores`` (lines 132-137) scores one pair
per forward pass from the last hidden state and the ``yes - no`` row of the LM head.

Pixels: the producer's frames equal ``fetch_video``'s to within 1 on 0-255 (the resampler
matches torchvision's to rounding ties); through JPEG storage the grid is equal and the mean
error stays under 1 on 0-255 (JPEG cannot be exact). Query images equal ``fetch_image``'s
exactly, transparency composited on white.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")  # torchcodec does not load here

import numpy as np
import pytest
import torch
from PIL import Image
from qwen_vl_utils import fetch_video

from common.errors import QueryError
from common.frames import FrameReader, sampling_id, write_frame_cache
from common.query_media import decode_query_image
from common.scorers.base import LoadedQuery, SampledFrame, WindowInput
from common.scorers.qwen3_vl import Qwen3VLScorer
from common.scorers.qwen3_vl_frames import (
    IMAGE_MAX_PIXELS,
    IMAGE_MIN_PIXELS,
    WINDOW_TOTAL_PIXELS,
    clip_frame_indices,
    frame_requirements,
)
from common.scorers.qwen3_vl_model import render_template
from common.scorers.qwen3_vl_prompt import (
    SYSTEM_PROMPT,
    Side,
    default_instruction,
    expand_prompt,
    patch_aligned_size,
    tokens_per_frame_group,
)
from common.storage import LocalObjectStore
from common.video import probe_video, sample_frames_at, sample_model_frames
from tests import media
from tests.qwen_official import official_image, official_processor_inputs, official_video_file
from tests.qwen_tiny import save_tiny_reranker

#: One level of 0-255 after the processor's normalisation ((x / 255 - 0.5) / 0.5).
ONE_LEVEL = 2 / 255


# --- the official path, written from reading it ------------------------------------------------


def official_content(prefix: str, side: dict[str, Any]) -> list[dict[str, Any]]:
    """``format_mm_content`` (qwen3_vl_reranker.py lines 225-319) for one side."""
    content: list[dict[str, Any]] = [{"type": "text", "text": prefix}]
    texts = [side["text"]] if side.get("text") else []
    images = [side["image"]] if side.get("image") is not None else []
    videos = [side["video"]] if side.get("video") else []
    if not texts and not images and not videos:
        return [*content, {"type": "text", "text": "NULL"}]
    for video in videos:
        if isinstance(video, list):  # a frame list (lines 271-279)
            item = {"type": "video", "video": video, "total_pixels": WINDOW_TOTAL_PIXELS}
        else:  # a file (lines 280-283)
            item = official_video_file(video)
        content.append(item)
    content += [official_image(image) for image in images]  # lines 296-313
    content += [{"type": "text", "text": text} for text in texts]  # lines 316-317
    return content


def official_messages(instruction: str, query: dict[str, Any], document: dict[str, Any]) -> list:
    """``format_mm_instruction`` (lines 321-377)."""
    contents = [{"type": "text", "text": "<Instruct>: " + instruction}]
    contents += official_content("<Query>:", query)
    contents += official_content("\n<Document>:", document)
    return [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]},
        {"role": "user", "content": contents},
    ]


def official_inputs(processor: Any, messages: list) -> Any:
    """``tokenize`` (lines 166-203) for one pair: template, process_vision_info, processor."""
    return official_processor_inputs(processor, [messages], truncation=False, padding=False)


def official_score(model: Any, processor: Any, messages: list) -> float:
    """``compute_scores`` (lines 132-137) on one pair, in fp32, as 0-100."""
    inputs = official_inputs(processor, messages)
    yes, no = processor.tokenizer.convert_tokens_to_ids(["yes", "no"])
    head = model.lm_head.weight
    with torch.no_grad():
        last = model.model(**inputs).last_hidden_state[:, -1]
        logit = last @ (head[yes] - head[no])
    return 100.0 * float(torch.sigmoid(logit)[0])


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_reranker(tmp_path_factory.mktemp("qwen3-vl-tiny-official"))


@pytest.fixture(scope="module")
def scorer(tiny_dir: Path) -> Qwen3VLScorer:
    loaded = Qwen3VLScorer(str(tiny_dir))  # the official preset
    loaded.load()
    return loaded


@pytest.fixture(scope="module")
def reference(tiny_dir: Path) -> tuple[Any, Any]:
    from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

    model = Qwen3VLForConditionalGeneration.from_pretrained(tiny_dir, local_files_only=True)
    processor = AutoProcessor.from_pretrained(tiny_dir, padding_side="left", use_fast=True)
    return model.eval(), processor


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """6 s windows at 1 fps (one source frame per sampled frame) of three shapes."""
    folder = tmp_path_factory.mktemp("official-media")
    sizes = {"1080p": "1920x1080", "240p": "426x240", "portrait": "1080x1920", "270p": "480x270"}
    return {
        name: media.testsrc_clip(folder / f"{name}.mp4", 6, fps=1, size=size)
        for name, size in sizes.items()
    }


def window_of(frames: list[SampledFrame], text: str = "") -> WindowInput:
    return WindowInput(
        start=frames[0].time,
        end=frames[-1].time + 1.0,
        frame_indices=[f.index for f in frames],
        frames=frames,
        fps=1.0,
        text=text,
    )


def sampled(path: Path, preset: str = "official") -> list[SampledFrame]:
    return list(sample_model_frames(path, probe_video(path), 1.0, frame_requirements(preset)))


def as_array(frames: list[SampledFrame]) -> np.ndarray:
    return np.stack([np.asarray(f.image, dtype=np.int16) for f in frames])


def rgba_picture() -> Image.Image:
    """300x200 RGBA: opaque red left, fully transparent green right, half-transparent blue band."""
    pixels = np.zeros((200, 300, 4), dtype=np.uint8)
    pixels[:, :150] = (220, 30, 30, 255)
    pixels[:, 150:] = (0, 255, 0, 0)
    pixels[80:120, :] = (20, 40, 230, 128)
    return Image.fromarray(pixels, "RGBA")


# --- pixels ------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "grid"), [("1080p", (3, 40, 72)), ("240p", (3, 18, 32)), ("portrait", (3, 72, 40))]
)
def test_window_frames_and_pixel_values_equal_fetch_video(
    scorer: Qwen3VLScorer, reference: Any, clips: dict[str, Path], name: str, grid: tuple
) -> None:
    _, processor = reference
    path = clips[name]
    messages = official_messages(
        default_instruction(frozenset({"text"})), {"text": "q"}, {"video": path}
    )
    # The producer's frames against fetch_video's, before any storage.
    official_frames, metadata = fetch_video(
        messages[1]["content"][-1], image_patch_size=16, return_video_metadata=True
    )
    ours = sampled(path)
    assert metadata["frames_indices"] == [f.index for f in ours] == list(range(6))
    expected = official_frames.numpy().transpose(0, 2, 3, 1)
    assert as_array(ours).shape == expected.shape
    assert np.abs(as_array(ours) - expected).max() <= 1  # the 240p source was enlarged
    # What the model receives: same grid, same pixel values (to rounding), same token ids.
    official = official_inputs(processor, messages)
    inputs = scorer.pair_inputs(LoadedQuery(text="q"), [window_of(ours)])
    assert tuple(inputs["video_grid_thw"][0].tolist()) == grid
    assert torch.equal(inputs["video_grid_thw"], official["video_grid_thw"])
    difference = (inputs["pixel_values_videos"] - official["pixel_values_videos"]).abs()
    assert float(difference.max()) <= ONE_LEVEL + 1e-6
    assert inputs["input_ids"][0].tolist() == official["input_ids"][0].tolist()


@pytest.mark.slow
def test_stored_frames_keep_the_grid_and_lose_under_one_level_on_average(
    scorer: Qwen3VLScorer, reference: Any, clips: dict[str, Path], tmp_path: Path
) -> None:
    _, processor = reference
    path = clips["1080p"]
    needs = frame_requirements("official")
    store = LocalObjectStore(tmp_path / "store")
    sampling = sampling_id(1.0, 0, requirements=needs)
    manifest = write_frame_cache(
        store, "work", "h", sampling, 1.0, needs.max_pixels, probe_video(path),
        sample_model_frames(path, probe_video(path), 1.0, needs),
        jpeg_quality=needs.jpeg_quality, jpeg_subsampling=needs.jpeg_subsampling,
    )  # fmt: skip
    assert (manifest.width, manifest.height) == (1152, 640)
    stored = FrameReader(store, "work", manifest).frames(list(range(6)))
    messages = official_messages("i", {"text": "q"}, {"video": path})
    official = official_inputs(processor, messages)
    inputs = scorer.pair_inputs(LoadedQuery(text="q", instruction="i"), [window_of(stored)])
    assert torch.equal(inputs["video_grid_thw"], official["video_grid_thw"])
    difference = (inputs["pixel_values_videos"] - official["pixel_values_videos"]).abs()
    mean_levels = float(difference.mean()) / ONE_LEVEL
    print(f"JPEG storage: mean {mean_levels:.3f} levels, max {float(difference.max()) / ONE_LEVEL}")
    assert mean_levels < 1.0


def test_a_transparent_query_image_is_composited_on_white_and_equals_fetch_image(
    scorer: Qwen3VLScorer, reference: Any, clips: dict[str, Path]
) -> None:
    _, processor = reference
    png = io.BytesIO()
    rgba_picture().save(png, format="PNG")
    decoded = decode_query_image(png.getvalue(), "query image")
    assert decoded.mode == "RGB" and decoded.getpixel((250, 10)) == (255, 255, 255)
    assert decoded.getpixel((10, 10)) == (220, 30, 30)
    window = window_of(sampled(clips["240p"]))
    query = LoadedQuery(image=decoded)
    inputs = scorer.pair_inputs(query, [window])
    messages = official_messages(
        default_instruction(query.kinds()),
        {"image": Image.open(io.BytesIO(png.getvalue()))},
        {"video": clips["240p"]},
    )
    official = official_inputs(processor, messages)
    assert torch.equal(inputs["image_grid_thw"], official["image_grid_thw"])
    assert torch.equal(inputs["pixel_values"], official["pixel_values"])  # exactly
    assert inputs["input_ids"][0].tolist() == official["input_ids"][0].tolist()


@pytest.mark.slow
def test_a_40_second_query_clip_is_sampled_as_fetch_video_samples_it(
    scorer: Qwen3VLScorer, tmp_path: Path
) -> None:
    # 720p at 2 fps: 80 source frames; 1 fps gives 40, each capped at 768 tokens per pair.
    path = media.testsrc_clip(tmp_path / "clip.mp4", 40, fps=2, size="1280x720")
    item = {"type": "video", "video": "file://" + str(path), "fps": 1.0, "max_frames": 64}
    official_frames, metadata = fetch_video(item, image_patch_size=16, return_video_metadata=True)
    probe = probe_video(path)
    indices = clip_frame_indices(probe.frame_count, probe.fps)
    assert indices == metadata["frames_indices"] and len(indices) == 40
    ours = sample_frames_at(path, probe, indices, frame_requirements("official"))
    expected = official_frames.numpy().transpose(0, 2, 3, 1)
    assert as_array(ours).shape == expected.shape == (40, 640, 1152, 3)
    assert np.abs(as_array(ours) - expected).max() <= 1
    # Timestamps are real times: frame number / the source's rate, as the metadata says.
    assert [f.time for f in ours] == [i / metadata["fps"] for i in metadata["frames_indices"]]
    del official_frames, expected
    # 20 pairs x 720 tokens exceed the 10,240-token prompt: refused, with the way out named.
    clip = LoadedQuery(video_frames=ours, video_fps=probe.fps)
    with pytest.raises(QueryError, match=r"14405 tokens.*SEGLOCATE_FRAME_PIXELS=fast"):
        scorer.check_query(clip)
    fast = LoadedQuery(video_frames=ours, video_fps=probe.fps, frame_pixels="fast")
    scorer.check_query(fast)  # 20 pairs x 180 tokens


# --- prompt token ids --------------------------------------------------------------------------


def our_document_ids(
    scorer: Qwen3VLScorer, instruction: str, query: Side, document: Side, images: list[Image.Image]
) -> list[int]:
    """Token ids from our layout functions for a text or image document."""
    loaded = scorer._model()
    prompt = render_template(loaded, instruction, query, document)
    sizes = [
        patch_aligned_size(
            i.height, i.width, min_pixels=IMAGE_MIN_PIXELS, max_pixels=IMAGE_MAX_PIXELS
        )
        for i in images
    ]
    pieces = expand_prompt(prompt, [tokens_per_frame_group(*size) for size in sizes], [])
    return scorer._encode_pieces(loaded, pieces)


def test_token_ids_of_a_text_document_equal_the_official_formatting(
    scorer: Qwen3VLScorer, reference: Any
) -> None:
    _, processor = reference
    instruction = "Given a search query, retrieve relevant candidates that answer the query."
    ours = our_document_ids(
        scorer, instruction, Side(texts=("a red car",)), Side(texts=("a red car drives by",)), []
    )
    messages = official_messages(
        instruction, {"text": "a red car"}, {"text": "a red car drives by"}
    )
    assert ours == official_inputs(processor, messages)["input_ids"][0].tolist()


def test_token_ids_of_an_image_document_equal_the_official_formatting(
    scorer: Qwen3VLScorer, reference: Any
) -> None:
    _, processor = reference
    image = Image.fromarray(np.random.default_rng(3).integers(0, 256, (90, 170, 3), np.uint8))
    instruction = "Find the picture."
    ours = our_document_ids(scorer, instruction, Side(texts=("q",)), Side(images=1), [image])
    messages = official_messages(instruction, {"text": "q"}, {"image": image})
    assert ours == official_inputs(processor, messages)["input_ids"][0].tolist()


@pytest.mark.parametrize("text", ["", "the teacher says: draw every force on the block"])
def test_token_ids_of_video_and_video_plus_text_documents_equal_the_official_formatting(
    scorer: Qwen3VLScorer, reference: Any, clips: dict[str, Path], text: str
) -> None:
    _, processor = reference
    window = window_of(sampled(clips["270p"]), text)
    query = LoadedQuery(text="free-body diagram")
    ours = scorer.pair_token_ids(query, [window])[0]
    document = {"video": clips["270p"], "text": text}
    messages = official_messages(default_instruction(query.kinds()), {"text": query.text}, document)
    assert ours == official_inputs(processor, messages)["input_ids"][0].tolist()


def test_the_window_text_follows_its_frames_inside_the_document(
    scorer: Qwen3VLScorer, clips: dict[str, Path]
) -> None:
    window = window_of(sampled(clips["270p"]), "slide: Newton's laws <|im_end|> spoken: inertia")
    prompt = scorer.prompt_text(LoadedQuery(text="inertia"), window)
    document = prompt.split("\n<Document>:", 1)[1]
    assert document.startswith("<0.5 seconds><|vision_start|>")
    # Videos, then texts, no separator; chat markers in the text are dropped.
    assert document.endswith(
        "<|vision_end|>slide: Newton's laws  spoken: inertia<|im_end|>\n<|im_start|>assistant\n"
    )


# --- scores ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_batched_scores_equal_the_official_one_pair_per_forward_scores(
    scorer: Qwen3VLScorer, reference: Any, clips: dict[str, Path], tmp_path: Path
) -> None:
    model, processor = reference
    png = io.BytesIO()
    rgba_picture().save(png, format="PNG")
    query_clip = media.testsrc_clip(tmp_path / "q.mp4", 4, fps=3, size="320x180")
    probe = probe_video(query_clip)
    clip_frames = sample_frames_at(
        query_clip, probe, clip_frame_indices(probe.frame_count, probe.fps), frame_requirements()
    )
    queries = {
        "text": (LoadedQuery(text="a test pattern"), {"text": "a test pattern"}),
        "image+text": (
            LoadedQuery(text="this", image=decode_query_image(png.getvalue(), "q")),
            {"text": "this", "image": Image.open(io.BytesIO(png.getvalue()))},
        ),
        "clip": (LoadedQuery(video_frames=clip_frames, video_fps=probe.fps), {"video": query_clip}),
    }
    names = ["240p", "270p", "240p"]  # two shapes, so the batch is left-padded
    texts = ["", "", "spoken words"]
    windows = [window_of(sampled(clips[n]), t) for n, t in zip(names, texts, strict=True)]
    for ours_query, official_query in queries.values():
        scores = scorer.score_windows(ours_query, windows, None)
        assert scorer.last_stats.batches == 1
        instruction = default_instruction(ours_query.kinds())
        expected = [
            official_score(
                model,
                processor,
                official_messages(instruction, official_query, {"video": clips[n], "text": t}),
            )
            for n, t in zip(names, texts, strict=True)
        ]
        assert scores == pytest.approx(expected, abs=1e-3)

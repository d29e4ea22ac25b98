"""The Qwen3-VL-Embedding window embedder, end to end on the tiny random checkpoint.

The reference is the official code path, written here from reading it (never imported, it is
not a package): QwenLM/Qwen3-VL-Embedding ``src/models/qwen3_vl_embedding.py`` at 8ce3aab.
``Qwen3VLEmbedder.format_model_input`` builds the conversation (the instruction, stripped and
given a final ``.`` unless it ends with punctuation, as the system turn, else ``Represent the
user's input.``; then videos, images, texts; ``NULL`` when empty; a video file carries ``fps``
1 and ``max_frames`` 64, an image ``min_pixels``/``max_pixels``), ``_preprocess_inputs``
renders it with the chat template, runs qwen-vl-utils' ``process_vision_info`` (the real
qwen-vl-utils 0.0.14, a test dependency) and the right-padding processor with
``do_resize=False``, and ``process`` pools the last unpadded token's hidden state and
L2-normalises it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")  # torchcodec does not load here

import numpy as np
import pytest
import torch
from PIL import Image

from common.embedders.base import WindowEmbedder
from common.embedders.build import build_window_embedder, check_embedder_settings
from common.embedders.qwen3_vl_embedding import Qwen3VLEmbedder
from common.embedders.qwen3_vl_embedding_model import EmbedderLoadError, render_template
from common.embedders.qwen3_vl_embedding_prompt import query_instruction, render_prompt
from common.errors import InvalidInputError, QueryError
from common.scorers.base import LoadedQuery, SampledFrame, WindowInput
from common.scorers.qwen3_vl_frames import frame_requirements
from common.scorers.qwen3_vl_prompt import Side
from common.settings import Settings
from common.video import probe_video, sample_model_frames
from tests import media
from tests.qwen_official import official_image, official_processor_inputs, official_video_file
from tests.qwen_tiny import CHAT_TEMPLATE
from tests.qwen_tiny_embedding import TINY_DIMS, save_tiny_embedder

REPO = Path(__file__).resolve().parents[1]

# --- the official path, written from reading it ------------------------------------------------


def official_conversation(
    text: str | None = None,
    image: Any = None,
    video: Any = None,
    instruction: str | None = None,
) -> list[dict[str, Any]]:
    """``format_model_input`` for one input (one text, image and video at most)."""
    if instruction:
        instruction = instruction.strip()
        if instruction and not unicodedata.category(instruction[-1]).startswith("P"):
            instruction = instruction + "."
    content: list[dict[str, Any]] = []
    conversation = [
        {
            "role": "system",
            "content": [{"type": "text", "text": instruction or "Represent the user's input."}],
        },
        {"role": "user", "content": content},
    ]
    texts = [] if text is None else [text]
    images = [] if image is None else [image]
    videos = [] if video is None else [video]
    if not texts and not images and not videos:
        content.append({"type": "text", "text": "NULL"})
        return conversation
    content += [official_video_file(item) for item in videos]  # fps 1, at most 64 frames
    content += [official_image(item) for item in images]
    content += [{"type": "text", "text": item} for item in texts]
    return conversation


def official_inputs(processor: Any, conversations: list[list[dict[str, Any]]]) -> Any:
    """``_preprocess_inputs``: template, ``process_vision_info``, the processor."""
    return official_processor_inputs(
        processor, conversations, truncation=True, max_length=8192, padding=True
    )


def official_vectors(model: Any, processor: Any, conversations: list) -> np.ndarray:
    """``process``: forward, the last unpadded token per row, L2-normalised."""
    inputs = official_inputs(processor, conversations)
    with torch.no_grad():
        hidden = model.model(**inputs).last_hidden_state
    mask = inputs["attention_mask"]
    last = mask.shape[1] - mask.flip(dims=[1]).argmax(dim=1) - 1
    pooled = hidden[torch.arange(hidden.shape[0]), last]
    return torch.nn.functional.normalize(pooled, p=2, dim=-1).numpy()


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_embedder(tmp_path_factory.mktemp("qwen3-vl-embedding-tiny"))


def settings_for(model: Path | str, **options: Any) -> Settings:
    return Settings(embedder="qwen3-vl-embedding", embedder_model=str(model), **options)


@pytest.fixture(scope="module")
def embedder(tiny_dir: Path) -> Qwen3VLEmbedder:
    built = build_window_embedder(settings_for(tiny_dir))  # the real models' code path
    assert isinstance(built, Qwen3VLEmbedder)
    return built


@pytest.fixture(scope="module")
def reference(tiny_dir: Path) -> tuple[Any, Any]:
    from transformers import Qwen3VLProcessor

    from tests.qwen_tiny_embedding import TinyEmbeddingModel

    model = TinyEmbeddingModel.from_pretrained(tiny_dir, local_files_only=True)
    processor = Qwen3VLProcessor.from_pretrained(tiny_dir, padding_side="right")
    return model.eval(), processor


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6 s test pattern at 1 fps: one source frame per sampled frame."""
    folder = tmp_path_factory.mktemp("embedding-media")
    return media.testsrc_clip(folder / "270p.mp4", 6, fps=1, size="480x270")


def noise_window(seed: int, count: int = 5, text: str = "") -> WindowInput:
    rng = np.random.default_rng(seed)
    frames = [
        SampledFrame(
            index=seed * 10 + i,
            time=float(seed * 10 + i),
            image=Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)),
        )
        for i in range(count)
    ]
    return WindowInput(
        start=frames[0].time,
        end=frames[-1].time + 1,
        frame_indices=[f.index for f in frames],
        frames=frames,
        fps=1.0,
        text=text,
    )


def clip_window(path: Path, text: str = "") -> WindowInput:
    frames = list(sample_model_frames(path, probe_video(path), 1.0, frame_requirements()))
    return WindowInput(
        start=frames[0].time,
        end=frames[-1].time + 1,
        frame_indices=[f.index for f in frames],
        frames=frames,
        fps=1.0,
        text=text,
    )


def picture(seed: int = 3) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (90, 170, 3), np.uint8))


def assert_unit_rows(vectors: np.ndarray, dims: int) -> None:
    assert vectors.dtype == np.float32 and vectors.shape[-1] == dims
    assert np.isfinite(vectors).all()
    assert np.allclose(np.linalg.norm(vectors, axis=-1), 1.0, atol=1e-5)


# --- settings and building ---------------------------------------------------------------------


def test_settings_off_unknown_and_bad_truncation_are_refused_before_loading() -> None:
    for off in ("", "off", " OFF ", "none"):
        assert build_window_embedder(Settings(embedder=off)) is None
    with pytest.raises(InvalidInputError, match=r"SEGLOCATE_EMBEDDER 'clip'.*unknown") as info:
        build_window_embedder(Settings(embedder="clip"))
    assert "\n" not in str(info.value)
    # An official checkpoint's width is known without loading it (nothing is downloaded).
    with pytest.raises(InvalidInputError, match=r"SEGLOCATE_EMBED_DIMS 4096.*between 1 and 2048"):
        check_embedder_settings(Settings(embedder="qwen3-vl-embedding", embed_dims=4096))
    check_embedder_settings(
        Settings(embedder="qwen3-vl-embedding", embedder_model="Qwen/Qwen3-VL-Embedding-8B",
                 embed_dims=4096)
    )  # fmt: skip
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        Settings(embed_dims=0)


def test_importing_the_builder_needs_no_torch() -> None:
    code = "import sys, common.embedders.build; assert 'torch' not in sys.modules, 'torch'"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_the_tiny_checkpoint_loads_through_the_builder(
    embedder: Qwen3VLEmbedder, tiny_dir: Path
) -> None:
    assert isinstance(embedder, WindowEmbedder)
    assert embedder.needs_window_pixels
    assert embedder.info.name == "qwen3-vl-embedding"
    assert embedder.info.model_id == str(tiny_dir)
    assert embedder.info.dims == TINY_DIMS
    assert embedder.frame_requirements == frame_requirements("official")


# --- vectors -----------------------------------------------------------------------------------


def test_window_vectors_are_unit_finite_deterministic_and_batch_independent(
    embedder: Qwen3VLEmbedder,
) -> None:
    windows = [noise_window(0), noise_window(1, 3, "slide: Newton's laws"), noise_window(2, 6)]
    vectors = embedder.embed_windows(windows)
    assert vectors.shape == (3, TINY_DIMS)
    assert_unit_rows(vectors, TINY_DIMS)
    assert np.array_equal(vectors, embedder.embed_windows(windows))
    # Left-padded batches (three lengths) give each window's own vector.
    alone = np.stack([embedder.embed_windows([w])[0] for w in windows])
    assert np.allclose(alone, vectors, atol=1e-5)
    # Different pixels, different text: different vectors.
    assert np.abs(vectors[0] - vectors[2]).max() > 1e-3
    texted = embedder.embed_windows([noise_window(1, 3, "something else entirely")])[0]
    assert np.abs(texted - vectors[1]).max() > 1e-3
    assert embedder.embed_windows([]).shape == (0, TINY_DIMS)


def test_query_vectors_of_every_kind_are_unit_and_the_instruction_rule_holds(
    embedder: Qwen3VLEmbedder,
) -> None:
    clip_frames = noise_window(5, 4).frames
    queries = {
        "text": LoadedQuery(text="a red car"),
        "image": LoadedQuery(image=picture()),
        "text+image": LoadedQuery(text="this", image=picture()),
        "video": LoadedQuery(video_frames=clip_frames, video_fps=1.0),
        "text+video": LoadedQuery(text="this", video_frames=clip_frames, video_fps=1.0),
    }
    vectors = {name: embedder.embed_query(query) for name, query in queries.items()}
    for vector in vectors.values():
        assert vector.shape == (TINY_DIMS,)
        assert_unit_rows(vector, TINY_DIMS)
    stacked = np.stack(list(vectors.values()))
    assert np.linalg.matrix_rank(stacked, tol=1e-3) == len(queries)
    # A final full stop is added when missing: both spellings are one instruction.
    bare = embedder.embed_query(LoadedQuery(text="q", instruction=" Find the clip "))
    stopped = embedder.embed_query(LoadedQuery(text="q", instruction="Find the clip."))
    assert np.array_equal(bare, stopped)
    other = embedder.embed_query(LoadedQuery(text="q", instruction="Find the picture."))
    assert np.abs(other - stopped).max() > 1e-3
    with pytest.raises(QueryError, match="empty"):
        embedder.embed_query(LoadedQuery())
    with pytest.raises(QueryError, match="reserved marker"):
        embedder.embed_query(LoadedQuery(text="a <|im_end|> b"))


def test_matryoshka_truncation_keeps_the_first_values_renormalised(
    embedder: Qwen3VLEmbedder, tiny_dir: Path
) -> None:
    short = build_window_embedder(settings_for(tiny_dir, embed_dims=16))
    assert short is not None and short.info.dims == 16
    windows = [noise_window(0), noise_window(1, 3, "words")]
    full = embedder.embed_windows(windows)
    cut = short.embed_windows(windows)
    assert_unit_rows(cut, 16)
    expected = full[:, :16] / np.linalg.norm(full[:, :16], axis=1, keepdims=True)
    assert np.allclose(cut, expected, atol=1e-5)
    query = LoadedQuery(text="a red car")
    head = embedder.embed_query(query)[:16]
    assert np.allclose(short.embed_query(query), head / np.linalg.norm(head), atol=1e-5)
    # A local directory's width is known once it loads.
    with pytest.raises(InvalidInputError, match="between 1 and 64"):
        build_window_embedder(settings_for(tiny_dir, embed_dims=65))


# --- formatting: the official wrapper's, byte for byte -----------------------------------------

INSTRUCTIONS = [
    None,
    "",
    "   ",
    "Find the clip that corresponds to the described scene in the given video.",
    "  Find the clip  ",
    "Describe:",
    "¿Qué pasa?",
    "找到对应的视频片段",
    "找到对应的视频片段。",
    'Say "yes"',
]
INPUTS = [
    (Side(texts=("a red car",)), {"text": "a red car"}),
    (Side(images=1), {"image": "picture"}),
    (Side(images=1, texts=("this",)), {"image": "picture", "text": "this"}),
    (Side(videos=1), {"video": "clip.mp4"}),
    (Side(videos=1, texts=("spoken words",)), {"video": "clip.mp4", "text": "spoken words"}),
    (Side(videos=1, images=1, texts=("t",)), {"video": "clip.mp4", "image": "p", "text": "t"}),
    (Side(), {}),
]


@pytest.mark.parametrize("instruction", INSTRUCTIONS)
def test_rendered_prompts_equal_the_official_conversation_byte_for_byte(
    embedder: Qwen3VLEmbedder, reference: Any, instruction: str | None
) -> None:
    _, processor = reference
    loaded = embedder._loaded
    for side, official in INPUTS:
        conversation = official_conversation(instruction=instruction, **official)
        expected = processor.apply_chat_template(
            [conversation], add_generation_prompt=True, tokenize=False
        )[0]
        ours = render_template(loaded, instruction, side)
        assert ours.encode() == expected.encode()
        assert render_prompt(instruction, side).encode() == expected.encode()


def test_query_token_ids_equal_the_official_formatting(
    embedder: Qwen3VLEmbedder, reference: Any
) -> None:
    _, processor = reference
    image = picture()
    cases = [
        (LoadedQuery(text="a red car"), {"text": "a red car"}),
        (LoadedQuery(text="a red car", instruction="Find the car"), {"text": "a red car"}),
        (LoadedQuery(image=image), {"image": image}),
        (
            LoadedQuery(text="this", image=image, instruction="Look!"),
            {"text": "this", "image": image},
        ),
    ]
    for query, official in cases:
        instruction = query_instruction(query.instruction, query.kinds())
        expected = official_inputs(
            processor, [official_conversation(instruction=instruction, **official)]
        )
        assert embedder.query_token_ids(query) == expected["input_ids"][0].tolist()


@pytest.mark.parametrize("text", ["", "slide: Newton's laws; spoken: inertia"])
def test_window_token_ids_and_pixels_equal_the_official_formatting(
    embedder: Qwen3VLEmbedder, reference: Any, clip: Path, text: str
) -> None:
    _, processor = reference
    window = clip_window(clip, text)
    official = official_inputs(processor, [official_conversation(video=clip, text=text or None)])
    assert embedder.window_token_ids(window) == official["input_ids"][0].tolist()
    inputs = embedder.window_inputs([window])
    assert torch.equal(inputs["video_grid_thw"], official["video_grid_thw"])
    difference = (inputs["pixel_values_videos"] - official["pixel_values_videos"]).abs()
    assert float(difference.max()) <= 2 / 255 + 1e-6  # one level of 0-255 (resampler rounding)


def test_vectors_equal_the_official_pooled_and_normalised_ones(
    embedder: Qwen3VLEmbedder, reference: Any, clip: Path
) -> None:
    model, processor = reference
    window = clip_window(clip, "spoken words")
    instruction = "Find the clip that corresponds to the described scene in the given video."
    conversations = [
        official_conversation(text="a test pattern", instruction=instruction),
        official_conversation(video=clip, text="spoken words"),
    ]  # one right-padded batch, as the official process() runs it
    expected = official_vectors(model, processor, conversations)
    ours_query = embedder.embed_query(LoadedQuery(text="a test pattern"))
    ours_window = embedder.embed_windows([window])[0]
    assert np.allclose(ours_query, expected[0], atol=1e-5)
    assert np.allclose(ours_window, expected[1], atol=1e-5)


def test_a_checkpoint_whose_template_differs_is_refused(tmp_path: Path) -> None:
    thinking = CHAT_TEMPLATE.replace(
        "{{- '<|im_start|>assistant\\n' }}", "{{- '<|im_start|>assistant\\n<think>\\n\\n' }}"
    )
    directory = save_tiny_embedder(tmp_path / "thinking", chat_template=thinking)
    with pytest.raises(EmbedderLoadError, match="renders inputs differently"):
        build_window_embedder(settings_for(directory))

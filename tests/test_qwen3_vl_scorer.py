"""Qwen3VLScorer on the tiny offline model, loaded through the real ``from_pretrained`` path."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"

import numpy as np
import pytest
import torch
from PIL import Image

from common.errors import QueryError, VideoError
from common.scorers.base import LoadedQuery, SampledFrame, Scorer, WindowInput
from common.scorers.qwen3_vl import Qwen3VLScorer, ScorerLoadError
from common.scorers.qwen3_vl_prompt import default_instruction
from tests.qwen_tiny import save_tiny_reranker

#: A preset whose frames stay 64x64 (its minimum is its cap): keeps these tests' prompts small.
SMALL_FRAMES = "4096"

SYSTEM = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query "
    'and the Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n'
)
#: The user turn up to the query, for a text query with the default (moment) instruction.
USER = "<|im_start|>user\n<Instruct>: " + default_instruction(frozenset({"text"}))
END = "<|im_end|>\n<|im_start|>assistant\n"
#: One pair of 64x64 frames: 2x2 tokens.
PAIR = "<|vision_start|>" + "<|video_pad|>" * 4 + "<|vision_end|>"
#: The 6-frame, 1 fps window as a document.
WINDOW_DOC = f"\n<Document>:<0.5 seconds>{PAIR}<2.5 seconds>{PAIR}<4.5 seconds>{PAIR}"
#: A 96x64 (w x h) query image: 3x2 tokens.
IMAGE = "<|vision_start|>" + "<|image_pad|>" * 6 + "<|vision_end|>"


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_reranker(tmp_path_factory.mktemp("qwen3-vl-tiny"))


@pytest.fixture(scope="module")
def scorer(tiny_dir: Path) -> Qwen3VLScorer:
    scorer = Qwen3VLScorer(str(tiny_dir), frame_pixels=SMALL_FRAMES)
    scorer.load()
    return scorer


@pytest.fixture(scope="module")
def reference(tiny_dir: Path) -> tuple[Any, Any]:
    """The model with its LM head and the processor, loaded independently of the scorer."""
    from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

    model = Qwen3VLForConditionalGeneration.from_pretrained(tiny_dir, local_files_only=True)
    processor = AutoProcessor.from_pretrained(tiny_dir, padding_side="left", use_fast=True)
    return model.eval(), processor


def picture(seed: int, width: int = 64, height: int = 64) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def frames(seed: int, count: int, first: int = 0, size: int = 64) -> list[SampledFrame]:
    return [
        SampledFrame(
            index=first + i, time=float(first + i), image=picture(seed * 100 + i, size, size)
        )
        for i in range(count)
    ]


def window(
    seed: int, count: int = 6, fps: float = 1.0, first: int = 0, size: int = 64
) -> WindowInput:
    sampled = frames(seed, count, first, size)
    for frame in sampled:
        frame.time = frame.index / fps
    return WindowInput(
        start=first / fps,
        end=(first + count) / fps,
        frame_indices=[f.index for f in sampled],
        frames=sampled,
        fps=fps,
    )


# --- prompt layout ---------------------------------------------------------------------------


def test_text_query_prompt_is_the_official_layout(scorer: Qwen3VLScorer) -> None:
    prompt = scorer.prompt_text(LoadedQuery(text="a red car"), window(1))
    assert prompt == SYSTEM + USER + "<Query>:a red car" + WINDOW_DOC + END


def user_turn(*kinds: str) -> str:
    return "<|im_start|>user\n<Instruct>: " + default_instruction(frozenset(kinds))


def test_image_query_prompt_is_the_official_layout(scorer: Qwen3VLScorer) -> None:
    prompt = scorer.prompt_text(LoadedQuery(image=picture(5, 96, 64)), window(1))
    assert prompt == SYSTEM + user_turn("image") + "<Query>:" + IMAGE + WINDOW_DOC + END


def test_text_plus_image_query_puts_the_image_before_the_text(scorer: Qwen3VLScorer) -> None:
    prompt = scorer.prompt_text(LoadedQuery(text="this car", image=picture(5, 96, 64)), window(1))
    user = user_turn("text", "image")
    assert prompt == SYSTEM + user + "<Query>:" + IMAGE + "this car" + WINDOW_DOC + END


def test_video_query_prompt_is_the_official_layout(scorer: Qwen3VLScorer) -> None:
    clip = LoadedQuery(video_frames=frames(7, 4), video_fps=1.0)
    prompt = scorer.prompt_text(clip, window(1))
    query = f"<Query>:<0.5 seconds>{PAIR}<2.5 seconds>{PAIR}"
    assert prompt == SYSTEM + user_turn("video") + query + WINDOW_DOC + END


def test_each_query_kind_gets_its_default_instruction(scorer: Qwen3VLScorer) -> None:
    text = scorer.prompt_text(LoadedQuery(text="a goal"), window(1))
    assert "<Instruct>: Find the clip that corresponds to the described scene" in text
    image = scorer.prompt_text(LoadedQuery(image=picture(5, 96, 64)), window(1))
    assert "<Instruct>: Select the video clip that aligns with the given image.<Query>:" in image
    clip = scorer.prompt_text(LoadedQuery(video_frames=frames(7, 4)), window(1))
    assert "<Instruct>: Find the clip that corresponds to the given video segment." in clip


def test_a_query_instruction_replaces_the_default(scorer: Qwen3VLScorer) -> None:
    query = LoadedQuery(text="a goal", instruction="Find the clip that shows the query.")
    prompt = scorer.prompt_text(query, window(1))
    assert "<Instruct>: Find the clip that shows the query.<Query>:a goal\n<Document>:" in prompt
    assert "Given a search query" not in prompt


def test_timestamps_use_the_window_sampling_rate(scorer: Qwen3VLScorer) -> None:
    prompt = scorer.prompt_text(LoadedQuery(text="q"), window(1, count=6, fps=2.0, first=20))
    assert f"<0.2 seconds>{PAIR}<1.2 seconds>{PAIR}<2.2 seconds>{PAIR}<|im_end|>" in prompt


def test_an_odd_frame_count_is_padded_with_the_last_frame(scorer: Qwen3VLScorer) -> None:
    prompt = scorer.prompt_text(LoadedQuery(text="q"), window(1, count=5))
    assert prompt.endswith(f"<0.5 seconds>{PAIR}<2.5 seconds>{PAIR}<4.0 seconds>{PAIR}" + END)


def test_video_tokens_have_no_outer_vision_start(scorer: Qwen3VLScorer) -> None:
    ids = scorer.pair_token_ids(LoadedQuery(text="q"), [window(1)])[0]
    tokenizer = scorer._model().processor.tokenizer
    start, pad = tokenizer.convert_tokens_to_ids(["<|vision_start|>", "<|video_pad|>"])
    assert ids.count(start) == 3  # one per pair of frames, none around the video
    after_document = tokenizer.decode(ids).split("<Document>:")[1]
    assert after_document.startswith("<0.5 seconds><|vision_start|>")
    assert ids.count(pad) == 12


def official_inputs(processor: Any, query: LoadedQuery, doc: WindowInput) -> Any:
    """Inputs built the official way: template, then transformers' processor (4.57 layout)."""
    instruction = query.instruction or default_instruction(query.kinds())
    items: list[dict[str, Any]] = [
        {"type": "text", "text": "<Instruct>: " + instruction},
        {"type": "text", "text": "<Query>:"},
    ]
    videos, metadata, images = [], [], []
    clips = ([(query.video_frames, query.video_fps)] if query.video_frames else []) + [
        (doc.frames, doc.fps)
    ]
    for position, (clip, fps) in enumerate(clips):
        tensor = torch.from_numpy(np.stack([np.array(f.image) for f in clip])).permute(0, 3, 1, 2)
        videos.append(tensor)
        metadata.append(
            {
                "total_num_frames": len(clip),
                "fps": fps,
                "frames_indices": [f.index - clip[0].index for f in clip],
            }
        )
        if position == 0 and query.video_frames:
            items.append({"type": "video", "video": "clip"})
    if query.image is not None:
        images.append(query.image)
        items.append({"type": "image", "image": "image"})
    if query.text:
        items.append({"type": "text", "text": query.text})
    items += [{"type": "text", "text": "\n<Document>:"}, {"type": "video", "video": "window"}]
    messages = [
        {
            "role": "system",
            "content": [
                {"type": "text", "text": SYSTEM[len("<|im_start|>system\n") : -len("<|im_end|>\n")]}
            ],
        },
        {"role": "user", "content": items},
    ]
    prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return processor(
        text=[prompt],
        images=images or None,
        videos=videos,
        video_metadata=metadata,
        do_resize=False,
        do_sample_frames=False,
        return_tensors="pt",
    )


QUERIES = {
    "text": LoadedQuery(text="a red car in the rain"),
    "image": LoadedQuery(image=picture(11, 96, 64)),
    "text+image": LoadedQuery(text="this car", image=picture(12, 64, 96)),
    "video": LoadedQuery(video_frames=frames(13, 4, first=50), video_fps=2.0),
    "multilingual": LoadedQuery(
        text='一只红色的汽车在雨中 "vite"', instruction="Trouvez le moment."
    ),
}


@pytest.mark.parametrize("kind", sorted(QUERIES))
def test_token_ids_equal_transformers_processor(
    scorer: Qwen3VLScorer, reference: Any, kind: str
) -> None:
    _, processor = reference
    doc = window(3)
    ours = scorer.pair_token_ids(QUERIES[kind], [doc])[0]
    assert ours == official_inputs(processor, QUERIES[kind], doc)["input_ids"][0].tolist()


# --- scores ----------------------------------------------------------------------------------


def reference_score(reference: Any, query: LoadedQuery, doc: WindowInput) -> float:
    model, processor = reference
    inputs = official_inputs(processor, query, doc)
    yes, no = processor.tokenizer.convert_tokens_to_ids(["yes", "no"])
    with torch.no_grad():
        logits = model(**inputs).logits[0, -1]
    return 100.0 / (1.0 + math.exp(-float(logits[yes] - logits[no])))


@pytest.mark.parametrize("kind", sorted(QUERIES))
def test_scores_are_sigmoid_of_the_yes_no_logit_gap_of_a_full_forward(
    scorer: Qwen3VLScorer, reference: Any, kind: str
) -> None:
    docs = [window(21), window(22)]
    scores = scorer.score_windows(QUERIES[kind], docs, None)
    expected = [reference_score(reference, QUERIES[kind], doc) for doc in docs]
    assert scores == pytest.approx(expected, abs=1e-4)


def mixed_windows() -> list[WindowInput]:
    """Windows of different lengths so batches need left padding."""
    return [
        window(31, 6),
        window(32, 2),
        window(33, 8, first=8),
        window(34, 4),
        window(35, 6, fps=2.0),
    ]


def test_random_scores_spread_enough_to_compare(scorer: Qwen3VLScorer) -> None:
    scores = scorer.score_windows(QUERIES["text"], mixed_windows(), None)
    assert all(0.0 < s < 100.0 for s in scores)
    assert max(scores) - min(scores) > 0.5


def test_batched_scores_equal_one_pair_at_a_time(tiny_dir: Path, scorer: Qwen3VLScorer) -> None:
    single = Qwen3VLScorer(str(tiny_dir), max_batch_pairs=1, frame_pixels=SMALL_FRAMES)
    for kind in ("text", "text+image", "video"):
        batched = scorer.score_windows(QUERIES[kind], mixed_windows(), None)
        assert scorer.last_stats.batches == 1
        alone = single.score_windows(QUERIES[kind], mixed_windows(), None)
        assert single.last_stats.batches == len(alone)
        assert batched == pytest.approx(alone, abs=1e-4)


def test_scores_do_not_depend_on_batch_composition(scorer: Qwen3VLScorer) -> None:
    docs = mixed_windows()
    together = scorer.score_windows(QUERIES["text"], docs, None)
    reordered = scorer.score_windows(QUERIES["text"], [docs[4], docs[2], docs[0]], None)
    assert reordered == pytest.approx([together[4], together[2], together[0]], abs=1e-4)


def test_a_token_budget_splits_pairs_into_several_forward_passes(tiny_dir: Path) -> None:
    small = Qwen3VLScorer(str(tiny_dir), max_batch_tokens=300, frame_pixels=SMALL_FRAMES)
    docs = [window(40 + i) for i in range(5)]
    small.score_windows(QUERIES["text"], docs, None)
    stats = small.last_stats
    assert stats.pairs == 5 and stats.batches >= 2
    width = stats.tokens // stats.pairs
    assert stats.padded_tokens <= stats.batches * 300 or width > 300


def test_preparing_the_next_batch_in_a_thread_gives_the_same_scores(tiny_dir: Path) -> None:
    docs = mixed_windows()
    plain = Qwen3VLScorer(
        str(tiny_dir), max_batch_pairs=2, prefetch=False, frame_pixels=SMALL_FRAMES
    )
    ahead = Qwen3VLScorer(
        str(tiny_dir), max_batch_pairs=2, prefetch=True, frame_pixels=SMALL_FRAMES
    )
    expected = plain.score_windows(QUERIES["video"], docs, None)
    assert ahead.score_windows(QUERIES["video"], docs, None) == pytest.approx(expected, abs=1e-6)
    assert ahead.last_stats.batches == 3


def test_the_query_text_is_tokenised_once_per_batch(
    scorer: Qwen3VLScorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = scorer._model()
    calls: list[list[str]] = []
    tokenizer = loaded.processor.tokenizer

    class Counting:
        def __call__(self, texts: list[str], **kwargs: Any) -> Any:
            calls.append(list(texts))
            return tokenizer(texts, **kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(tokenizer, name)

    monkeypatch.setattr(loaded.processor, "tokenizer", Counting())
    query = LoadedQuery(text="a unique query about a blue bicycle")
    scorer.score_windows(query, [window(50 + i) for i in range(6)], None)
    texts = [text for call in calls for text in call]
    assert sum(query.text in text for text in texts) == 1
    calls.clear()
    scorer.score_windows(query, [window(60 + i) for i in range(6)], None)
    assert calls == []  # cached across calls


def test_truncation_removes_query_text_from_the_end_but_no_vision_token(tiny_dir: Path) -> None:
    full = Qwen3VLScorer(str(tiny_dir), frame_pixels=SMALL_FRAMES)
    short = Qwen3VLScorer(str(tiny_dir), max_length=150, frame_pixels=SMALL_FRAMES)
    query = LoadedQuery(text=" ".join(f"w{i}" for i in range(200)), image=picture(3, 64, 64))
    doc = window(70)
    untruncated = full.pair_token_ids(query, [doc])[0]
    truncated = short.pair_token_ids(query, [doc])[0]
    assert len(untruncated) > 150 and len(truncated) == 150
    special = short._model().special_ids
    assert [t for t in truncated if t in special] == [t for t in untruncated if t in special]
    assert truncated[-5:] == untruncated[-5:]
    body = [t for t in truncated[:-5] if t not in special]
    assert body == [t for t in untruncated[:-5] if t not in special][: len(body)]
    assert 0.0 < short.score_windows(query, [doc], None)[0] < 100.0


# --- errors ----------------------------------------------------------------------------------


class AudioQuery(LoadedQuery):
    def kinds(self) -> frozenset[str]:
        return frozenset({"audio"})


def test_an_unsupported_query_kind_is_refused(scorer: Qwen3VLScorer) -> None:
    with pytest.raises(QueryError, match="audio"):
        scorer.check_query(AudioQuery(text="x"))


def test_an_empty_query_is_refused(scorer: Qwen3VLScorer) -> None:
    with pytest.raises(QueryError, match="empty"):
        scorer.score_windows(LoadedQuery(), [window(1)], None)


def test_query_text_may_not_contain_chat_markers(scorer: Qwen3VLScorer) -> None:
    with pytest.raises(QueryError, match=r"<\|im_end\|>"):
        scorer.check_query(LoadedQuery(text="ok<|im_end|>"))


def test_a_zero_size_query_image_is_refused(scorer: Qwen3VLScorer) -> None:
    with pytest.raises(QueryError, match="query image: empty image"):
        scorer.check_query(LoadedQuery(image=Image.new("RGB", (0, 0))))


def test_a_query_image_that_is_not_an_image_is_refused(scorer: Qwen3VLScorer) -> None:
    with pytest.raises(QueryError, match="query image: not an image"):
        scorer.check_query(LoadedQuery(image=b"\x89PNG broken"))  # type: ignore[arg-type]


def test_a_truncated_image_file_is_refused(scorer: Qwen3VLScorer, tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    picture(1).save(path)
    path.write_bytes(path.read_bytes()[:200])
    with Image.open(path) as cut, pytest.raises(QueryError, match="query image: unreadable image"):
        scorer.check_query(LoadedQuery(image=cut))


def test_a_window_frame_that_is_not_an_image_names_the_window_and_frame(
    scorer: Qwen3VLScorer,
) -> None:
    bad = window(2)
    bad.frames[3].image = None  # type: ignore[assignment]
    with pytest.raises(VideoError, match=r"window 0\.00-6\.00 s, frame 3: not an image"):
        scorer.score_windows(QUERIES["text"], [window(1), bad], None)


def test_a_window_without_frames_is_refused(scorer: Qwen3VLScorer) -> None:
    empty = WindowInput(start=0.0, end=5.0, frame_indices=[0, 1], frames=[], fps=1.0)
    with pytest.raises(VideoError, match="no frames"):
        scorer.score_windows(QUERIES["text"], [empty], None)


def test_a_query_clip_longer_than_64_seconds_is_refused(scorer: Qwen3VLScorer) -> None:
    scorer.check_query(LoadedQuery(video_frames=frames(1, 64, size=32), video_fps=1.0))
    with pytest.raises(QueryError, match=r"65\.0 s long"):
        scorer.check_query(LoadedQuery(video_frames=frames(1, 65, size=32), video_fps=1.0))


def test_a_query_too_large_for_the_context_is_refused_before_loading(tiny_dir: Path) -> None:
    small = Qwen3VLScorer(str(tiny_dir), max_length=40, frame_pixels=SMALL_FRAMES)
    with pytest.raises(QueryError, match="at most 40"):
        small.check_query(LoadedQuery(image=picture(1, 256, 256)))
    assert not small.loaded


def test_a_pair_that_cannot_fit_even_without_text_is_refused(tiny_dir: Path) -> None:
    small = Qwen3VLScorer(str(tiny_dir), max_length=40, frame_pixels="16384")  # 128x128 frames
    with pytest.raises(QueryError, match=r"window 0\.00-6\.00 s .* at most 40"):
        small.score_windows(LoadedQuery(text="q"), [window(1, size=128)], None)


# --- loading and attributes ------------------------------------------------------------------


def test_construction_is_cheap_and_loading_is_lazy(tmp_path: Path) -> None:
    scorer = Qwen3VLScorer(str(tmp_path / "missing"))
    assert not scorer.loaded
    with pytest.raises(ScorerLoadError, match="missing"):
        scorer.load()


def test_the_scorer_declares_what_it_needs(scorer: Qwen3VLScorer, tiny_dir: Path) -> None:
    assert isinstance(scorer, Scorer)
    assert scorer.info.name == "qwen3-vl" and scorer.info.model_id == str(tiny_dir)
    assert scorer.info.revision is None  # a local directory has no hub commit
    assert scorer.frame_requirements.max_pixels == 4096  # its preset's cap
    assert Qwen3VLScorer(str(tiny_dir)).frame_requirements.max_pixels == 768 * 32 * 32
    assert scorer.query_kinds == {"text", "image", "video"}
    assert scorer.needs_window_pixels and scorer.features_id is None
    assert scorer.extract_features([]) == {}


def test_loading_logs_device_precision_and_attention(
    tiny_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="common.scorers.qwen3_vl")
    scorer = Qwen3VLScorer(str(tiny_dir), device="cpu")
    scorer.load()
    assert "on cpu as float32 with sdpa attention" in caplog.text
    assert scorer._model().dtype == torch.float32
    assert "loaded" in caplog.text


def test_build_scorer_constructs_it_from_settings(tiny_dir: Path) -> None:
    from common.scorers import build_scorer
    from common.settings import Settings

    scorer = build_scorer("qwen3-vl", Settings(model=str(tiny_dir)))
    assert isinstance(scorer, Qwen3VLScorer) and not scorer.loaded


# --- the throughput benchmark's CPU-side parts -----------------------------------------------


def load_benchmark() -> Any:
    import benchmarks.reranker_throughput as bench

    return bench


def test_benchmark_dry_run_measures_both_presets_both_ways_and_updates_its_section(
    tmp_path: Path,
) -> None:
    bench = load_benchmark()
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nOther notes.\n", encoding="utf-8")
    assert bench.main(["--dry-run", "--doc", str(doc)]) == 0
    assert bench.main(["--dry-run", "--doc", str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert "Other notes." in text
    assert text.count("<!-- reranker_throughput_tiny -->") == 1
    assert "architecture on CPU" in text
    for preset in ("official", "fast"):
        assert f"| {preset} | batched (ours) | 4 | 1 |" in text
        assert f"| {preset} | one pair per pass | 2 | 2 |" in text
        assert f"`{preset}`: batched scoring is " in text
    # A 640x360 source: 352x640 frames at official (220 tokens a pair), 320x576 at fast (180).
    assert "`official`: frames 640x352 px (220 tokens a pair of frames)" in text
    assert "`fast`: frames 576x320 px (180 tokens a pair of frames)" in text


def test_benchmark_peak_comes_from_the_gpu_name_unless_given() -> None:
    bench = load_benchmark()
    assert bench.peak_tflops("NVIDIA H200", None) == 989.0
    assert bench.peak_tflops("NVIDIA H100 PCIe", None) == 756.0
    assert bench.peak_tflops("Some Future GPU", None) == bench.DEFAULT_PEAK_TFLOPS
    assert bench.peak_tflops("NVIDIA H200", 500.0) == 500.0


def test_benchmark_without_cuda_exits_with_a_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load_benchmark()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench.main(["--model", "8b", "--no-doc"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


@pytest.mark.parametrize(("size", "tflop"), [("8b", 12.3), ("2b", 3.8)])
def test_benchmark_flop_estimate_matches_the_published_per_pair_cost(
    size: str, tflop: float
) -> None:
    from transformers import Qwen3VLConfig

    bench = load_benchmark()
    arch = bench.ARCHITECTURES[size]
    config = Qwen3VLConfig(
        text_config={**bench.COMMON_TEXT, **arch["text"]},
        vision_config={**bench.COMMON_VISION, **arch["vision"]},
    )
    # A 5 s window at 1 fps and 448 px: 3 pairs of 28x28 patches, about 700 tokens with the prompt.
    assert bench.pair_flops(config, 700, 3, (28, 28)) / 1e12 == pytest.approx(tflop, rel=0.05)

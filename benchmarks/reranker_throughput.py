"""Reranker throughput: our batched scoring against one pair per forward pass, on one GPU.

Builds a randomly initialised Qwen3-VL with the real 2B or 8B architecture (config values
only, no weights downloaded) in bf16, wraps it in :class:`Qwen3VLScorer` with the tiny
offline tokenizer of ``tests/qwen_tiny.py`` (only the LM head's vocabulary size matters for
speed), and scores 5 s windows at 1 fps of 448x448 frames against a text query:

- ``batched``: ``Qwen3VLScorer``'s token-budget batching, left-padded (ours);
- ``one pair``: the same code with one pair per forward pass (the official wrapper's way).

It prints pairs/s, tokens/s and model FLOP utilisation (against ``--peak-tflops``, default
790 TFLOP/s of dense bf16 on an H100), and writes or updates a section of
``docs/benchmarks.md`` named after the model and the device.

Usage (from the repository root)::

    python -m benchmarks.reranker_throughput --model 8b
    python -m benchmarks.reranker_throughput --model 2b --windows 256 --peak-tflops 989
    python -m benchmarks.reranker_throughput --dry-run   # tiny model on CPU: checks the script

Without CUDA (and without ``--dry-run`` / ``--device cpu``) it exits with status 2 and a
one-line message.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._util import DOC_PATH, update_doc

#: Vocabulary of Qwen3-VL: sets the LM head's size.
QWEN_VOCAB_SIZE = 151_936

#: Architectures of Qwen3-VL-Reranker-2B and -8B (those of Qwen3-VL-2B/8B-Instruct).
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "2b": {
        "text": {
            "hidden_size": 2048,
            "intermediate_size": 6144,
            "num_hidden_layers": 28,
            "num_attention_heads": 16,
            "num_key_value_heads": 8,
            "head_dim": 128,
        },
        "vision": {
            "depth": 24,
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_heads": 16,
            "out_hidden_size": 2048,
            "deepstack_visual_indexes": [5, 11, 17],
        },
        "tie_word_embeddings": True,
    },
    "8b": {
        "text": {
            "hidden_size": 4096,
            "intermediate_size": 12288,
            "num_hidden_layers": 36,
            "num_attention_heads": 32,
            "num_key_value_heads": 8,
            "head_dim": 128,
        },
        "vision": {
            "depth": 27,
            "hidden_size": 1152,
            "intermediate_size": 4304,
            "num_heads": 16,
            "out_hidden_size": 4096,
            "deepstack_visual_indexes": [8, 16, 24],
        },
        "tie_word_embeddings": False,
    },
}
#: Settings both sizes share.
COMMON_TEXT = {
    "vocab_size": QWEN_VOCAB_SIZE,
    "max_position_embeddings": 262_144,
    "rms_norm_eps": 1e-6,
    "rope_theta": 5_000_000.0,
    "rope_scaling": {
        "rope_type": "default",
        "mrope_section": [24, 20, 20],
        "mrope_interleaved": True,
    },
    "hidden_act": "silu",
}
COMMON_VISION = {
    "patch_size": 16,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "num_position_embeddings": 2304,
    "hidden_act": "gelu_pytorch_tanh",
}
#: The query every window is scored against.
QUERY_TEXT = "the teacher draws a free-body diagram of a block on an inclined plane"


class BenchmarkError(Exception):
    """A condition under which the benchmark cannot run; printed without a traceback."""


@dataclass
class Run:
    """One way of scoring, measured."""

    name: str
    pairs: int
    seconds: float
    tokens: int  #: prompt tokens, padding excluded
    padded_tokens: int
    batches: int
    flops: float  #: estimated model FLOPs of all pairs

    @property
    def pairs_per_second(self) -> float:
        return self.pairs / self.seconds

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds

    def utilisation(self, peak_tflops: float) -> float:
        """Model FLOP utilisation, 0-1, against ``peak_tflops`` TFLOP/s."""
        return self.flops / self.seconds / (peak_tflops * 1e12)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(ARCHITECTURES), default="8b")
    parser.add_argument("--tiny", action="store_true", help="tests/qwen_tiny.py's architecture")
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument("--windows", type=int, default=128, help="windows scored batched")
    parser.add_argument("--single-windows", type=int, default=32, help="windows scored one by one")
    parser.add_argument("--frames", type=int, default=5, help="frames per window (1 fps)")
    parser.add_argument("--frame-size", type=int, default=448, help="frame side, pixels")
    parser.add_argument("--max-batch-tokens", type=int, default=None)
    parser.add_argument("--max-batch-pairs", type=int, default=64)
    parser.add_argument("--peak-tflops", type=float, default=790.0, help="dense bf16 peak")
    parser.add_argument("--attn", default=None, help="attention implementation (default: auto)")
    parser.add_argument("--doc", type=Path, default=None, help="markdown file to update")
    parser.add_argument("--no-doc", action="store_true", help="print only")
    parser.add_argument(
        "--dry-run", action="store_true", help="tiny model on CPU, few small windows, no doc"
    )
    args = parser.parse_args(argv)
    if args.dry_run:
        args.tiny, args.device, args.no_doc = True, "cpu", args.doc is None
        args.windows, args.single_windows = min(args.windows, 4), min(args.single_windows, 2)
        args.frame_size = min(args.frame_size, 64)
    if args.doc is None and not args.tiny:
        args.doc = DOC_PATH
    return args


def build_model(args: argparse.Namespace, processor: Any) -> tuple[Any, str]:
    """A randomly initialised Qwen3-VL on the device, and the attention implementation used."""
    import torch
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    from common.scorers.qwen3_vl_model import pick_attention
    from tests.qwen_tiny import tiny_config, token_ids

    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if args.tiny:
        config = tiny_config(processor.tokenizer)
    else:
        arch = ARCHITECTURES[args.model]
        config = Qwen3VLConfig(
            text_config={
                **COMMON_TEXT,
                **arch["text"],
                "tie_word_embeddings": arch["tie_word_embeddings"],
            },
            vision_config={**COMMON_VISION, **arch["vision"]},
            tie_word_embeddings=arch["tie_word_embeddings"],
            **token_ids(processor.tokenizer),
        )
    attn = args.attn or pick_attention(device)
    torch.manual_seed(0)
    with device:
        model = Qwen3VLForConditionalGeneration._from_config(
            config, dtype=dtype, attn_implementation=attn
        )
    return model.eval(), attn


def make_windows(count: int, frames: int, size: int) -> list[Any]:
    """``count`` windows of ``frames`` frames at 1 fps, ``size`` x ``size`` pixels of noise."""
    import numpy as np
    from PIL import Image

    from common.scorers.base import SampledFrame, WindowInput

    rng = np.random.default_rng(0)
    pool = [
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(8)
    ]
    windows = []
    for number in range(count):
        first = number * frames
        sampled = [
            SampledFrame(
                index=first + i, time=float(first + i), image=pool[(first + i) % len(pool)]
            )
            for i in range(frames)
        ]
        windows.append(
            WindowInput(
                start=float(first),
                end=float(first + frames),
                frame_indices=[f.index for f in sampled],
                frames=sampled,
                fps=1.0,
            )
        )
    return windows


def pair_flops(config: Any, tokens: int, groups: int, group_side_patches: tuple[int, int]) -> float:
    """Estimated FLOPs of one pair: ``tokens`` LM tokens, ``groups`` frame pairs of the window.

    Matrix multiplies count 2 FLOPs per multiply-add; causal attention counts half the square.
    The query's own text is in ``tokens``; its LM head is one row (ignored).
    """
    text, vision = config.text_config, config.vision_config
    hidden, heads, kv = text.hidden_size, text.num_attention_heads, text.num_key_value_heads
    head_dim = text.head_dim
    per_token = hidden * head_dim * (2 * heads + 2 * kv) + 3 * hidden * text.intermediate_size
    language = text.num_hidden_layers * (
        2 * per_token * tokens + 2 * tokens * tokens * heads * head_dim
    )
    patches_per_group = group_side_patches[0] * group_side_patches[1]
    patches = groups * patches_per_group
    width, inner = vision.hidden_size, vision.intermediate_size
    per_patch = 4 * width * width + 2 * width * inner
    attention = 4 * patches_per_group * patches_per_group * width * groups
    embed = 2 * patches * 3 * vision.temporal_patch_size * vision.patch_size**2 * width
    merged = patches // vision.spatial_merge_size**2
    merge_width = width * vision.spatial_merge_size**2
    mergers = 1 + len(vision.deepstack_visual_indexes)
    merger = (
        mergers * 2 * merged * (merge_width * merge_width + merge_width * vision.out_hidden_size)
    )
    return float(language + vision.depth * (2 * per_patch * patches + attention) + embed + merger)


def measure(name: str, scorer: Any, query: Any, windows: list[Any], config: Any, side: int) -> Run:
    """Score ``windows`` once (after a warm-up) and time it."""
    import torch

    scorer.score_windows(query, windows[: scorer.max_batch_pairs], None)  # warm-up: one batch
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    scorer.score_windows(query, windows, None)
    seconds = time.perf_counter() - started
    stats = scorer.last_stats
    ids = scorer.pair_token_ids(query, windows)
    groups = (len(windows[0].frames) + 1) // 2
    patches = (side // 16, side // 16)
    flops = sum(pair_flops(config, len(row), groups, patches) for row in ids)
    return Run(name, len(windows), seconds, stats.tokens, stats.padded_tokens, stats.batches, flops)


def table(runs: Sequence[Run], peak_tflops: float) -> str:
    lines = [
        "| scoring | pairs | batches | pairs/s | tokens/s | padded tokens | TFLOP/s | MFU |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        lines.append(
            f"| {run.name} | {run.pairs} | {run.batches} | {run.pairs_per_second:.1f} | "
            f"{run.tokens_per_second:,.0f} | {run.padded_tokens:,} | "
            f"{run.flops / run.seconds / 1e12:.1f} | {run.utilisation(peak_tflops):.1%} |"
        )
    return "\n".join(lines)


def section(
    args: argparse.Namespace, device_name: str, attn: str, runs: Sequence[Run], extra: str
) -> str:
    import torch
    import transformers

    label = "tiny" if args.tiny else args.model.upper()
    speedup = runs[0].pairs_per_second / runs[1].pairs_per_second
    precision = "bf16" if args.device.startswith("cuda") else "fp32"
    return "\n".join(
        [
            f"## Reranker throughput: Qwen3-VL-Reranker-{label} architecture on {device_name}",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by "
            f"`python -m benchmarks.reranker_throughput` (random weights, {precision}, "
            f"{attn} attention, torch {torch.__version__}, "
            f"transformers {transformers.__version__}).",
            f"Windows: {args.frames} frames at 1 fps, {args.frame_size}x{args.frame_size} px; "
            f"text query; MFU against {args.peak_tflops:g} TFLOP/s. {extra}",
            "",
            table(runs, args.peak_tflops),
            "",
            f"Batched scoring is {speedup:.1f}x the one-pair-per-pass rate.",
        ]
    )


def run(args: argparse.Namespace) -> str:
    """Build, measure, print; return the markdown section."""
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise BenchmarkError(
            "CUDA is not available on this machine: the throughput benchmark needs a GPU "
            "(use --dry-run to check the script on CPU with the tiny model)"
        )
    from common.scorers.base import LoadedQuery
    from common.scorers.qwen3_vl import Qwen3VLScorer
    from tests.qwen_tiny import build_processor

    processor = build_processor()
    model, attn = build_model(args, processor)
    device = torch.device(args.device)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    memory = ""
    if device.type == "cuda":
        memory = f"Weights: {torch.cuda.memory_allocated(device) / 2**30:.1f} GiB."
    options = {"max_batch_tokens": args.max_batch_tokens, "frame_pixels": str(args.frame_size**2)}
    label = "tiny" if args.tiny else args.model
    batched = Qwen3VLScorer.from_components(
        model,
        processor,
        model_id=f"random-{label}",
        max_batch_pairs=args.max_batch_pairs,
        **options,
    )
    single = Qwen3VLScorer.from_components(
        model, processor, model_id=f"random-{label}", max_batch_pairs=1, **options
    )
    query = LoadedQuery(text=QUERY_TEXT)
    windows = make_windows(max(args.windows, args.single_windows), args.frames, args.frame_size)
    runs = [
        measure(
            "batched (ours)", batched, query, windows[: args.windows], model.config, args.frame_size
        ),
        measure(
            "one pair per pass",
            single,
            query,
            windows[: args.single_windows],
            model.config,
            args.frame_size,
        ),
    ]
    if device.type == "cuda":
        memory += f" Peak: {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB."
    tokens = runs[0].tokens / runs[0].pairs
    extra = (
        f"{tokens:.0f} tokens per pair; batch budget {batched.max_batch_tokens} tokens. {memory}"
    )
    body = section(args, device_name, attn, runs, extra.strip())
    print(body)
    return body


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        body = run(args)
    except BenchmarkError as exc:
        print(f"reranker_throughput: {exc}", file=sys.stderr)
        return 2
    if not args.no_doc and args.doc is not None:
        update_doc(f"reranker_throughput_{'tiny' if args.tiny else args.model}", body, args.doc)
        print(f"\nupdated {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reranker throughput on one GPU: our batched scoring against one pair per forward pass,
for each frame-size preset.

Builds a randomly initialised Qwen3-VL with the real 2B or 8B architecture (config values
only, no weights downloaded) in bf16, wraps it in :class:`Qwen3VLScorer` with the tiny
offline tokenizer of ``tests/qwen_tiny.py`` (only the LM head's vocabulary size matters for
speed), and scores 5 s windows at 1 fps of a 1920x1080 source against a text query, frames
sized as each preset sizes them (``official``: 640x1152 px, 720 tokens a pair of frames;
``fast``: 320x576 px, 180 tokens):

- ``batched``: ``Qwen3VLScorer``'s token-budget batching, left-padded (ours; on CUDA the
  budget comes from the free memory);
- ``one pair``: the same code with one pair per forward pass (the official wrapper's way).

It prints pairs/s, tokens/s, the share of the bf16 FLOP ceiling (model FLOPs per second over
the GPU's dense bf16 peak, ``--peak-tflops``, by default looked up from the GPU's name) and
the speed-up of batching, and writes or updates a section of ``docs/benchmarks.md`` named
after the model.

Usage (from the repository root)::

    python -m benchmarks.reranker_throughput --model 8b
    python -m benchmarks.reranker_throughput --model 2b --windows 256 --presets official
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
#: Dense bf16 peak of known GPUs, TFLOP/s (datasheet figures without sparsity), by name part;
#: the first match wins.
PEAK_TFLOPS = (
    ("H100 PCIe", 756.0),
    ("H200", 989.0),
    ("H100", 989.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
    ("A10", 125.0),
    ("RTX 4090", 165.0),
)
#: Peak assumed for a GPU not in :data:`PEAK_TFLOPS`, TFLOP/s.
DEFAULT_PEAK_TFLOPS = 790.0


class BenchmarkError(Exception):
    """A condition under which the benchmark cannot run; printed without a traceback."""


@dataclass
class Run:
    """One way of scoring, measured."""

    preset: str
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
    parser.add_argument(
        "--source", default="1920x1080", help="source video size WxH the presets size frames from"
    )
    parser.add_argument(
        "--presets", default="official,fast", help="frame-size presets, comma-separated"
    )
    parser.add_argument("--max-batch-tokens", type=int, default=None)
    parser.add_argument("--max-batch-pairs", type=int, default=64)
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="dense bf16 peak (default: by GPU name)"
    )
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
        args.source = "640x360"
    if args.doc is None and not args.tiny:
        args.doc = DOC_PATH
    args.presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    return args


def peak_tflops(device_name: str, given: float | None) -> float:
    """``given``, else the dense bf16 peak of ``device_name`` (:data:`PEAK_TFLOPS`)."""
    if given is not None:
        return given
    return next((peak for part, peak in PEAK_TFLOPS if part in device_name), DEFAULT_PEAK_TFLOPS)


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


def make_windows(count: int, frames: int, size: tuple[int, int]) -> list[Any]:
    """``count`` windows of ``frames`` frames at 1 fps of ``size`` (height, width) px noise."""
    import numpy as np
    from PIL import Image

    from common.scorers.base import SampledFrame, WindowInput

    height, width = size
    rng = np.random.default_rng(0)
    pool = [
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)) for _ in range(8)
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


def measure(
    preset: str, name: str, scorer: Any, query: Any, windows: list[Any], config: Any
) -> Run:
    """Score ``windows`` once (after a warm-up) and time it."""
    import torch

    from common.scorers.qwen3_vl_frames import window_frame_positions

    scorer.score_windows(query, windows[: scorer.max_batch_pairs], None)  # warm-up: one batch
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    scorer.score_windows(query, windows, None)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    stats = scorer.last_stats
    ids = scorer.pair_token_ids(query, windows)
    groups = len(window_frame_positions(len(windows[0].frames))) // 2
    height, width = windows[0].frames[0].image.height, windows[0].frames[0].image.width
    patches = (height // 16, width // 16)
    flops = sum(pair_flops(config, len(row), groups, patches) for row in ids)
    return Run(
        preset, name, len(windows), seconds, stats.tokens, stats.padded_tokens, stats.batches,
        flops,
    )  # fmt: skip


def table(runs: Sequence[Run], peak: float) -> str:
    lines = [
        "| preset | scoring | pairs | batches | pairs/s | tokens/s | padded tokens | TFLOP/s "
        "| share of bf16 peak |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        lines.append(
            f"| {run.preset} | {run.name} | {run.pairs} | {run.batches} | "
            f"{run.pairs_per_second:.1f} | {run.tokens_per_second:,.0f} | "
            f"{run.padded_tokens:,} | {run.flops / run.seconds / 1e12:.1f} | "
            f"{run.utilisation(peak):.1%} |"
        )
    return "\n".join(lines)


def section(
    args: argparse.Namespace,
    device_name: str,
    attn: str,
    runs: Sequence[Run],
    peak: float,
    extra: Sequence[str],
) -> str:
    import torch
    import transformers

    from common.scorers.qwen3_vl_frames import window_frame_positions

    label = "tiny" if args.tiny else args.model.upper()
    precision = "bf16" if args.device.startswith("cuda") else "fp32"
    shown = len(window_frame_positions(args.frames))
    speedups = []
    for preset in args.presets:
        batched, single = (r for r in runs if r.preset == preset)
        speedup = batched.pairs_per_second / single.pairs_per_second
        speedups.append(
            f"`{preset}`: batched scoring is {speedup:.1f}x the one-pair-per-pass rate."
        )
    return "\n".join(
        [
            f"## Reranker throughput: Qwen3-VL-Reranker-{label} architecture on {device_name}",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by "
            f"`python -m benchmarks.reranker_throughput{' --dry-run' if args.dry_run else ''}"
            f"{'' if args.tiny else ' --model ' + args.model}` (random weights, {precision}, "
            f"{attn} attention, torch {torch.__version__}, "
            f"transformers {transformers.__version__}).",
            f"Windows: {args.frames} frames at 1 fps (shown as {shown}), "
            f"frames of a {args.source} source sized by each preset; text query; share of the "
            f"dense bf16 peak of {peak:g} TFLOP/s.",
            "",
            table(runs, peak),
            "",
            *extra,
            *speedups,
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
    from common.scorers.qwen3_vl_frames import (
        parse_frame_pixels,
        sampled_frame_size,
        tokens_per_frame_pair,
    )
    from tests.qwen_tiny import build_processor

    width, height = (int(v) for v in args.source.lower().split("x"))
    processor = build_processor()
    model, attn = build_model(args, processor)
    device = torch.device(args.device)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    peak = peak_tflops(device_name, args.peak_tflops)
    notes: list[str] = []
    if device.type == "cuda":
        notes.append(f"Weights: {torch.cuda.memory_allocated(device) / 2**30:.1f} GiB.")
    label = "tiny" if args.tiny else args.model
    query = LoadedQuery(text=QUERY_TEXT)
    runs: list[Run] = []
    for preset in args.presets:
        preset = parse_frame_pixels(preset)
        size = sampled_frame_size(height, width, preset)
        options = {"max_batch_tokens": args.max_batch_tokens, "frame_pixels": preset}
        batched = Qwen3VLScorer.from_components(
            model, processor, model_id=f"random-{label}", max_batch_pairs=args.max_batch_pairs,
            **options,
        )  # fmt: skip
        single = Qwen3VLScorer.from_components(
            model, processor, model_id=f"random-{label}", max_batch_pairs=1, **options
        )
        windows = make_windows(max(args.windows, args.single_windows), args.frames, size)
        runs.append(
            measure(preset, "batched (ours)", batched, query, windows[: args.windows], model.config)
        )
        runs.append(
            measure(
                preset, "one pair per pass", single, query, windows[: args.single_windows],
                model.config,
            )
        )  # fmt: skip
        tokens = runs[-2].tokens / runs[-2].pairs
        notes.append(
            f"`{preset}`: frames {size[1]}x{size[0]} px ({tokens_per_frame_pair(*size)} tokens "
            f"a pair of frames), {tokens:.0f} tokens per pair; batch budget "
            f"{batched.max_batch_tokens} tokens."
        )
    if device.type == "cuda":
        notes.append(f"Peak GPU memory: {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB.")
    body = section(args, device_name, attn, runs, peak, notes)
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

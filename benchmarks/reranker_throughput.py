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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import _gpu_throughput as gpu
from benchmarks._gpu_throughput import (  # re-exported: the tests read them from here
    ARCHITECTURES,
    COMMON_TEXT,
    COMMON_VISION,
    DEFAULT_PEAK_TFLOPS,
    PEAK_TFLOPS,
    QWEN_VOCAB_SIZE,
    BenchmarkError,
    Throughput,
    make_windows,
    pair_flops,
    peak_tflops,
)
from benchmarks._util import update_doc

__all__ = [
    "ARCHITECTURES",
    "COMMON_TEXT",
    "COMMON_VISION",
    "DEFAULT_PEAK_TFLOPS",
    "PEAK_TFLOPS",
    "QUERY_TEXT",
    "QWEN_VOCAB_SIZE",
    "BenchmarkError",
    "Run",
    "main",
    "make_windows",
    "pair_flops",
    "peak_tflops",
    "update_doc",
]

#: The query every window is scored against.
QUERY_TEXT = "the teacher draws a free-body diagram of a block on an inclined plane"


@dataclass
class Run(Throughput):
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


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    return gpu.parse_args(
        argv, __doc__.split("\n\n")[0], model="8b", windows=128,
        windows_help="windows scored batched", single_windows_help="windows scored one by one",
        batch_flag="--max-batch-pairs", batch_default=64,
    )  # fmt: skip


def measure(
    preset: str, name: str, scorer: Any, query: Any, windows: list[Any], config: Any
) -> Run:
    """Score ``windows`` once (after a warm-up) and time it."""
    scorer.score_windows(query, windows[: scorer.max_batch_pairs], None)  # warm-up: one batch
    _, seconds = gpu.timed_on_device(lambda: scorer.score_windows(query, windows, None))
    stats = scorer.last_stats
    flops = gpu.windows_flops(config, scorer.pair_token_ids(query, windows), windows)
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


def section(args: argparse.Namespace, setup: gpu.Setup, runs: Sequence[Run]) -> str:
    speedups = []
    for preset in args.presets:
        batched, single = (r for r in runs if r.preset == preset)
        speedup = batched.pairs_per_second / single.pairs_per_second
        speedups.append(
            f"`{preset}`: batched scoring is {speedup:.1f}x the one-pair-per-pass rate."
        )
    return gpu.section(
        args, "reranker_throughput", "Reranker throughput: Qwen3-VL-Reranker", setup,
        "; text query", table(runs, setup.peak), [*setup.notes, *speedups],
    )  # fmt: skip


def run(args: argparse.Namespace) -> str:
    """Build, measure, print; return the markdown section."""
    from transformers import Qwen3VLForConditionalGeneration

    setup = gpu.set_up(args, Qwen3VLForConditionalGeneration, lm_head=True)
    from common.scorers.base import LoadedQuery
    from common.scorers.qwen3_vl import Qwen3VLScorer
    from common.scorers.qwen3_vl_frames import (
        parse_frame_pixels,
        sampled_frame_size,
        tokens_per_frame_pair,
    )

    model, processor = setup.model, setup.processor
    query = LoadedQuery(text=QUERY_TEXT)
    runs: list[Run] = []
    for preset in args.presets:
        preset = parse_frame_pixels(preset)
        size = sampled_frame_size(*setup.source, preset)
        options = {"max_batch_tokens": args.max_batch_tokens, "frame_pixels": preset}
        batched = Qwen3VLScorer.from_components(
            model, processor, model_id=f"random-{setup.label}",
            max_batch_pairs=args.max_batch_pairs, **options,
        )  # fmt: skip
        single = Qwen3VLScorer.from_components(
            model, processor, model_id=f"random-{setup.label}", max_batch_pairs=1, **options
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
        setup.notes.append(
            f"`{preset}`: frames {size[1]}x{size[0]} px ({tokens_per_frame_pair(*size)} tokens "
            f"a pair of frames), {tokens:.0f} tokens per pair; batch budget "
            f"{batched.max_batch_tokens} tokens."
        )
    gpu.note_peak_memory(setup)
    body = section(args, setup, runs)
    print(body)
    return body


def main(argv: Sequence[str] | None = None) -> int:
    return gpu.main("reranker_throughput", parse_args(argv), run)


if __name__ == "__main__":
    sys.exit(main())

"""Embedder throughput on one GPU: windows embedded per second by Qwen3-VL-Embedding, for
each frame-size preset, batched and one window per forward pass.

Builds a randomly initialised Qwen3-VL backbone (no LM head, as the embedding checkpoints
have none) with the real 2B or 8B architecture (those of Qwen3-VL-Embedding-2B/8B,
:data:`~benchmarks._gpu_throughput.ARCHITECTURES`; no weights downloaded) in bf16, wraps it
in :class:`Qwen3VLEmbedder` with the tiny offline tokenizer of ``tests/qwen_tiny.py``, and
embeds 5 s windows at 1 fps of a 1920x1080 source, frames sized as each preset sizes them. It
prints windows/s, tokens/s and the share of the bf16 FLOP ceiling, and writes or updates a
section of ``docs/benchmarks.md`` named after the model.

Usage (from the repository root)::

    python -m benchmarks.embedder_throughput --model 2b
    python -m benchmarks.embedder_throughput --model 8b --windows 256 --presets official
    python -m benchmarks.embedder_throughput --dry-run   # tiny model on CPU: checks the script

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
from benchmarks._gpu_throughput import ARCHITECTURES, Throughput, make_windows
from benchmarks._util import update_doc

__all__ = ["DIMS", "Run", "main", "update_doc"]

#: Vector length of each architecture (its language model's width).
DIMS = {name: arch["text"]["hidden_size"] for name, arch in ARCHITECTURES.items()}


@dataclass
class Run(Throughput):
    """One way of embedding, measured."""

    preset: str
    name: str
    windows: int
    seconds: float
    tokens: int  #: prompt tokens, padding excluded
    batches: int
    flops: float  #: estimated model FLOPs of all windows

    @property
    def windows_per_second(self) -> float:
        return self.windows / self.seconds


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    return gpu.parse_args(
        argv, __doc__.split("\n\n")[0], model="2b", windows=256,
        windows_help="windows embedded batched", single_windows_help="windows one per pass",
        batch_flag="--max-batch-windows", batch_default=32,
    )  # fmt: skip


def measure(preset: str, name: str, embedder: Any, windows: list[Any], config: Any) -> Run:
    """Embed ``windows`` once (after a warm-up batch) and time it."""
    from common.scorers.qwen3_vl_prompt import plan_batches

    embedder.embed_windows(windows[: embedder.max_batch_windows])  # warm-up: one batch
    vectors, seconds = gpu.timed_on_device(lambda: embedder.embed_windows(windows))
    assert vectors.shape == (len(windows), embedder.info.dims)
    ids = [embedder.window_token_ids(window) for window in windows]
    batches = plan_batches(
        [len(row) for row in ids], embedder.max_batch_tokens, embedder.max_batch_windows
    )
    flops = gpu.windows_flops(config, ids, windows)
    return Run(preset, name, len(windows), seconds, sum(map(len, ids)), len(batches), flops)


def table(runs: Sequence[Run], peak: float) -> str:
    lines = [
        "| preset | embedding | windows | batches | windows/s | tokens/s | TFLOP/s "
        "| share of bf16 peak |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        lines.append(
            f"| {run.preset} | {run.name} | {run.windows} | {run.batches} | "
            f"{run.windows_per_second:.1f} | {run.tokens_per_second:,.0f} | "
            f"{run.flops / run.seconds / 1e12:.1f} | {run.utilisation(peak):.1%} |"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> str:
    """Build, measure, print; return the markdown section."""
    from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLModel

    setup = gpu.set_up(args, Qwen3VLModel, lm_head=False)
    from common.embedders.qwen3_vl_embedding import Qwen3VLEmbedder
    from common.scorers.qwen3_vl_frames import (
        parse_frame_pixels,
        sampled_frame_size,
        tokens_per_frame_pair,
    )

    model, processor = setup.model, setup.processor
    runs: list[Run] = []
    for preset in args.presets:
        preset = parse_frame_pixels(preset)
        size = sampled_frame_size(*setup.source, preset)
        options: dict[str, Any] = {
            "max_batch_tokens": args.max_batch_tokens,
            "frame_pixels": preset,
        }
        batched = Qwen3VLEmbedder.from_components(
            model, processor, model_id=f"random-{setup.label}",
            max_batch_windows=args.max_batch_windows, **options,
        )  # fmt: skip
        single = Qwen3VLEmbedder.from_components(
            model, processor, model_id=f"random-{setup.label}", max_batch_windows=1, **options
        )
        windows = make_windows(max(args.windows, args.single_windows), args.frames, size)
        runs.append(
            measure(preset, "batched (ours)", batched, windows[: args.windows], model.config)
        )
        runs.append(
            measure(
                preset, "one window per pass", single, windows[: args.single_windows], model.config
            )
        )
        tokens = runs[-2].tokens / runs[-2].windows
        setup.notes.append(
            f"`{preset}`: frames {size[1]}x{size[0]} px ({tokens_per_frame_pair(*size)} tokens "
            f"a pair of frames), {tokens:.0f} tokens per window, {batched.info.dims} dimensions; "
            f"batch budget {batched.max_batch_tokens} tokens, {args.max_batch_windows} windows."
        )
    gpu.note_peak_memory(setup)
    body = gpu.section(
        args, "embedder_throughput", "Embedder throughput: Qwen3-VL-Embedding", setup,
        ", no text; one vector per window", table(runs, setup.peak), setup.notes,
    )  # fmt: skip
    print(body)
    return body


def main(argv: Sequence[str] | None = None) -> int:
    return gpu.main("embedder_throughput", parse_args(argv), run)


if __name__ == "__main__":
    sys.exit(main())

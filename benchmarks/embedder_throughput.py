"""Embedder throughput on one GPU: windows embedded per second by Qwen3-VL-Embedding, for
each frame-size preset, batched and one window per forward pass.

Builds a randomly initialised Qwen3-VL backbone (no LM head, as the embedding checkpoints
have none) with the real 2B or 8B architecture (those of Qwen3-VL-Embedding-2B/8B, the
reranker benchmark's :data:`~benchmarks.reranker_throughput.ARCHITECTURES`; no weights
downloaded) in bf16, wraps it in :class:`Qwen3VLEmbedder` with the tiny offline tokenizer of
``tests/qwen_tiny.py``, and embeds 5 s windows at 1 fps of a 1920x1080 source, frames sized
as each preset sizes them. It prints windows/s, tokens/s and the share of the bf16 FLOP
ceiling, and writes or updates a section of ``docs/benchmarks.md`` named after the model.

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
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._util import DOC_PATH, update_doc
from benchmarks.reranker_throughput import (
    ARCHITECTURES,
    COMMON_TEXT,
    COMMON_VISION,
    BenchmarkError,
    make_windows,
    pair_flops,
    peak_tflops,
)

#: Vector length of each architecture (its language model's width).
DIMS = {name: arch["text"]["hidden_size"] for name, arch in ARCHITECTURES.items()}


@dataclass
class Run:
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

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds

    def utilisation(self, peak_tflops: float) -> float:
        """Model FLOP utilisation, 0-1, against ``peak_tflops`` TFLOP/s."""
        return self.flops / self.seconds / (peak_tflops * 1e12)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(ARCHITECTURES), default="2b")
    parser.add_argument("--tiny", action="store_true", help="tests/qwen_tiny.py's architecture")
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument("--windows", type=int, default=256, help="windows embedded batched")
    parser.add_argument("--single-windows", type=int, default=32, help="windows one per pass")
    parser.add_argument("--frames", type=int, default=5, help="frames per window (1 fps)")
    parser.add_argument(
        "--source", default="1920x1080", help="source video size WxH the presets size frames from"
    )
    parser.add_argument(
        "--presets", default="official,fast", help="frame-size presets, comma-separated"
    )
    parser.add_argument("--max-batch-tokens", type=int, default=None)
    parser.add_argument("--max-batch-windows", type=int, default=32)
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


def build_model(args: argparse.Namespace, processor: Any) -> tuple[Any, str]:
    """A randomly initialised Qwen3-VL backbone on the device, and the attention used."""
    import torch
    from transformers import Qwen3VLConfig
    from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLModel

    from common.scorers.qwen3_vl_model import pick_attention
    from tests.qwen_tiny import tiny_config, token_ids

    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if args.tiny:
        config = tiny_config(processor.tokenizer)
    else:
        arch = ARCHITECTURES[args.model]
        config = Qwen3VLConfig(
            text_config={**COMMON_TEXT, **arch["text"]},
            vision_config={**COMMON_VISION, **arch["vision"]},
            **token_ids(processor.tokenizer),
        )
    attn = args.attn or pick_attention(device)
    torch.manual_seed(0)
    with device:
        model = Qwen3VLModel._from_config(config, dtype=dtype, attn_implementation=attn)
    return model.eval(), attn


def measure(preset: str, name: str, embedder: Any, windows: list[Any], config: Any) -> Run:
    """Embed ``windows`` once (after a warm-up batch) and time it."""
    import torch

    from common.scorers.qwen3_vl_frames import window_frame_positions
    from common.scorers.qwen3_vl_prompt import plan_batches

    embedder.embed_windows(windows[: embedder.max_batch_windows])  # warm-up: one batch
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    vectors = embedder.embed_windows(windows)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    assert vectors.shape == (len(windows), embedder.info.dims)
    ids = [embedder.window_token_ids(window) for window in windows]
    batches = plan_batches(
        [len(row) for row in ids], embedder.max_batch_tokens, embedder.max_batch_windows
    )
    groups = len(window_frame_positions(len(windows[0].frames))) // 2
    height, width = windows[0].frames[0].image.height, windows[0].frames[0].image.width
    flops = sum(pair_flops(config, len(row), groups, (height // 16, width // 16)) for row in ids)
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
    return "\n".join(
        [
            f"## Embedder throughput: Qwen3-VL-Embedding-{label} architecture on {device_name}",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by "
            f"`python -m benchmarks.embedder_throughput{' --dry-run' if args.dry_run else ''}"
            f"{'' if args.tiny else ' --model ' + args.model}` (random weights, {precision}, "
            f"{attn} attention, torch {torch.__version__}, "
            f"transformers {transformers.__version__}).",
            f"Windows: {args.frames} frames at 1 fps (shown as {shown}), frames of a "
            f"{args.source} source sized by each preset, no text; one vector per window; share "
            f"of the dense bf16 peak of {peak:g} TFLOP/s.",
            "",
            table(runs, peak),
            "",
            *extra,
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
    from common.embedders.qwen3_vl_embedding import Qwen3VLEmbedder
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
    runs: list[Run] = []
    for preset in args.presets:
        preset = parse_frame_pixels(preset)
        size = sampled_frame_size(height, width, preset)
        options: dict[str, Any] = {
            "max_batch_tokens": args.max_batch_tokens,
            "frame_pixels": preset,
        }
        batched = Qwen3VLEmbedder.from_components(
            model, processor, model_id=f"random-{label}",
            max_batch_windows=args.max_batch_windows, **options,
        )  # fmt: skip
        single = Qwen3VLEmbedder.from_components(
            model, processor, model_id=f"random-{label}", max_batch_windows=1, **options
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
        notes.append(
            f"`{preset}`: frames {size[1]}x{size[0]} px ({tokens_per_frame_pair(*size)} tokens "
            f"a pair of frames), {tokens:.0f} tokens per window, {batched.info.dims} dimensions; "
            f"batch budget {batched.max_batch_tokens} tokens, {args.max_batch_windows} windows."
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
        print(f"embedder_throughput: {exc}", file=sys.stderr)
        return 2
    if not args.no_doc and args.doc is not None:
        update_doc(f"embedder_throughput_{'tiny' if args.tiny else args.model}", body, args.doc)
        print(f"\nupdated {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

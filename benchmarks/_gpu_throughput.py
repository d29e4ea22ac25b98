"""What the GPU throughput benchmarks share (:mod:`benchmarks.reranker_throughput`,
:mod:`benchmarks.embedder_throughput`): the real Qwen3-VL 2B/8B architectures, GPU peaks, the
command line, a random model on the device, noise windows, the FLOP estimate, timing, the
markdown section's header and ``main``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from benchmarks._util import DOC_PATH, update_doc

T = TypeVar("T")

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


class Throughput:
    """Rates of one measured run (mixed into each benchmark's ``Run`` dataclass)."""

    seconds: float
    tokens: int  #: prompt tokens, padding excluded
    flops: float  #: estimated model FLOPs of the run

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds

    def utilisation(self, peak_tflops: float) -> float:
        """Model FLOP utilisation, 0-1, against ``peak_tflops`` TFLOP/s."""
        return self.flops / self.seconds / (peak_tflops * 1e12)


def parse_args(
    argv: Sequence[str] | None,
    description: str,
    *,
    model: str,
    windows: int,
    windows_help: str,
    single_windows_help: str,
    batch_flag: str,
    batch_default: int,
) -> argparse.Namespace:
    """The benchmarks' shared command line; ``batch_flag`` caps the rows of a forward pass."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", choices=sorted(ARCHITECTURES), default=model)
    parser.add_argument("--tiny", action="store_true", help="tests/qwen_tiny.py's architecture")
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument("--windows", type=int, default=windows, help=windows_help)
    parser.add_argument("--single-windows", type=int, default=32, help=single_windows_help)
    parser.add_argument("--frames", type=int, default=5, help="frames per window (1 fps)")
    parser.add_argument(
        "--source", default="1920x1080", help="source video size WxH the presets size frames from"
    )
    parser.add_argument(
        "--presets", default="official,fast", help="frame-size presets, comma-separated"
    )
    parser.add_argument("--max-batch-tokens", type=int, default=None)
    parser.add_argument(batch_flag, type=int, default=batch_default)
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


def build_model(
    args: argparse.Namespace, processor: Any, model_class: Any, *, lm_head: bool
) -> tuple[Any, str]:
    """A randomly initialised ``model_class`` (a Qwen3-VL with an LM head when ``lm_head``,
    tied as the architecture ties it) on the device, and the attention implementation used."""
    import torch
    from transformers import Qwen3VLConfig

    from common.scorers.qwen3_vl_model import pick_attention
    from tests.qwen_tiny import tiny_config, token_ids

    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if args.tiny:
        config = tiny_config(processor.tokenizer)
    else:
        arch = ARCHITECTURES[args.model]
        tied = {"tie_word_embeddings": arch["tie_word_embeddings"]} if lm_head else {}
        config = Qwen3VLConfig(
            text_config={**COMMON_TEXT, **arch["text"], **tied},
            vision_config={**COMMON_VISION, **arch["vision"]},
            **tied,
            **token_ids(processor.tokenizer),
        )
    attn = args.attn or pick_attention(device)
    torch.manual_seed(0)
    with device:
        model = model_class._from_config(config, dtype=dtype, attn_implementation=attn)
    return model.eval(), attn


@dataclass
class Setup:
    """A benchmark's random model on its device, and what the run notes of it."""

    processor: Any
    model: Any
    attn: str
    device: Any  #: ``torch.device``
    device_name: str
    peak: float  #: dense bf16 peak, TFLOP/s
    source: tuple[int, int]  #: (height, width) of the source video
    label: str  #: ``tiny``, ``2b`` or ``8b``
    notes: list[str] = field(default_factory=list)


def set_up(args: argparse.Namespace, model_class: Any, *, lm_head: bool) -> Setup:
    """Check CUDA (:class:`BenchmarkError` without it), build the model, note its weights."""
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise BenchmarkError(
            "CUDA is not available on this machine: the throughput benchmark needs a GPU "
            "(use --dry-run to check the script on CPU with the tiny model)"
        )
    from tests.qwen_tiny import build_processor

    width, height = (int(v) for v in args.source.lower().split("x"))
    processor = build_processor()
    model, attn = build_model(args, processor, model_class, lm_head=lm_head)
    device = torch.device(args.device)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    setup = Setup(
        processor, model, attn, device, device_name, peak_tflops(device_name, args.peak_tflops),
        (height, width), "tiny" if args.tiny else args.model,
    )  # fmt: skip
    if device.type == "cuda":
        setup.notes.append(f"Weights: {torch.cuda.memory_allocated(device) / 2**30:.1f} GiB.")
    return setup


def note_peak_memory(setup: Setup) -> None:
    """On CUDA, add the peak GPU memory of the run to its notes."""
    import torch

    if setup.device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(setup.device) / 2**30
        setup.notes.append(f"Peak GPU memory: {peak:.1f} GiB.")


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


def windows_flops(config: Any, ids: Sequence[Sequence[int]], windows: Sequence[Any]) -> float:
    """:func:`pair_flops` summed over rows of token ids ``ids`` of windows like ``windows[0]``."""
    from common.scorers.qwen3_vl_frames import window_frame_positions

    groups = len(window_frame_positions(len(windows[0].frames))) // 2
    height, width = windows[0].frames[0].image.height, windows[0].frames[0].image.width
    patches = (height // 16, width // 16)
    return sum(pair_flops(config, len(row), groups, patches) for row in ids)


def timed_on_device(func: Callable[[], T]) -> tuple[T, float]:
    """(result, seconds) of ``func``, CUDA synchronised before and after."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    value = func()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return value, time.perf_counter() - started


def section(
    args: argparse.Namespace,
    module: str,
    title: str,
    setup: Setup,
    inputs: str,
    table: str,
    extra: Sequence[str],
) -> str:
    """The markdown section: ``## {title} architecture on`` the device, how it was measured,
    the windows (``inputs`` describes what else each row reads), ``table``, ``extra`` lines."""
    import torch
    import transformers

    from common.scorers.qwen3_vl_frames import window_frame_positions

    label = "tiny" if args.tiny else args.model.upper()
    precision = "bf16" if args.device.startswith("cuda") else "fp32"
    shown = len(window_frame_positions(args.frames))
    return "\n".join(
        [
            f"## {title}-{label} architecture on {setup.device_name}",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by "
            f"`python -m benchmarks.{module}{' --dry-run' if args.dry_run else ''}"
            f"{'' if args.tiny else ' --model ' + args.model}` (random weights, {precision}, "
            f"{setup.attn} attention, torch {torch.__version__}, "
            f"transformers {transformers.__version__}).",
            f"Windows: {args.frames} frames at 1 fps (shown as {shown}), frames of a "
            f"{args.source} source sized by each preset{inputs}; share of the dense bf16 peak "
            f"of {setup.peak:g} TFLOP/s.",
            "",
            table,
            "",
            *extra,
        ]
    )


def main(module: str, args: argparse.Namespace, run: Callable[[argparse.Namespace], str]) -> int:
    """Run; a :class:`BenchmarkError` is one line on stderr and status 2; else update the
    ``{module}_{label}`` section of the doc unless told not to."""
    try:
        body = run(args)
    except BenchmarkError as exc:
        print(f"{module}: {exc}", file=sys.stderr)
        return 2
    if not args.no_doc and args.doc is not None:
        update_doc(f"{module}_{'tiny' if args.tiny else args.model}", body, args.doc)
        print(f"\nupdated {args.doc}")
    return 0

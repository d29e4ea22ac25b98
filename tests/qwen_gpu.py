"""What the Qwen3-VL GPU tests share (``tests/test_qwen3_vl_gpu.py``,
``tests/test_qwen3_vl_embedding_gpu.py``): their marks and the noise or flat-colour windows
they feed the reranker and the embedder, the run of a throughput benchmark on the GPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from common.scorers.base import SampledFrame, WindowInput

#: Marks of a module of GPU tests: ``gpu``, and skipped without CUDA.
GPU_MARKS = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (no GPU here)"),
]


def window(
    seed: int, count: int = 6, size: int = 64, colour: tuple[int, int, int] | None = None
) -> WindowInput:
    """``count`` frames at 1 fps of ``size`` px squares: noise from ``seed``, or ``colour``."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(count):
        if colour is None:
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        else:
            pixels = np.full((size, size, 3), colour, dtype=np.uint8)
        frames.append(SampledFrame(index=i, time=float(i), image=Image.fromarray(pixels)))
    return WindowInput(
        start=0.0, end=float(count), frame_indices=list(range(count)), frames=frames, fps=1.0
    )


def mixed_windows() -> list[WindowInput]:
    """Four windows of 6, 2, 8 and 4 frames: a batch of mixed lengths."""
    return [window(1, 6), window(2, 2), window(3, 8), window(4, 4)]


def official_size_windows() -> list[WindowInput]:
    """Four windows of five 1080p frames as the producer stores them at the official preset:
    640x1152 px."""
    windows = [window(seed, 5) for seed in range(4)]
    for item in windows:
        for frame in item.frames:
            frame.image = frame.image.resize((1152, 640))
    return windows


def check_benchmark_on_gpu(bench: Any, tmp_path: Path) -> None:
    """The throughput benchmark module ``bench`` runs on CUDA with the tiny model and writes
    its batched rows for both presets."""
    doc = tmp_path / "benchmarks.md"
    args = ["--tiny", "--device", "cuda", "--windows", "8", "--single-windows", "4"]
    assert bench.main([*args, "--source", "640x360", "--doc", str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert "| official | batched (ours) | 8 |" in text and "| fast | batched (ours) | 8 |" in text

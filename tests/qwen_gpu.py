"""What the Qwen3-VL GPU tests share (``tests/test_qwen3_vl_gpu.py``,
``tests/test_qwen3_vl_embedding_gpu.py``): their marks and the noise or flat-colour windows
they feed the reranker and the embedder."""

from __future__ import annotations

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

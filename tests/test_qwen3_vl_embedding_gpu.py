"""Qwen3VLEmbedder on CUDA: bf16 loading, batching, agreement with fp32 on CPU, the benchmark.
Skipped without a GPU.

``SEGLOCATE_TEST_EMBEDDER_MODEL`` may name a local directory with the real
Qwen3-VL-Embedding weights to also run a sanity check of real vectors (never downloaded here).
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import numpy as np
import pytest
import torch

from common.embedders.qwen3_vl_embedding import Qwen3VLEmbedder
from common.scorers.base import LoadedQuery
from tests.qwen_gpu import (
    GPU_MARKS,
    check_benchmark_on_gpu,
    mixed_windows,
    official_size_windows,
    window,
)
from tests.qwen_tiny_embedding import TINY_DIMS, save_tiny_embedder

pytestmark = GPU_MARKS


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_embedder(tmp_path_factory.mktemp("qwen3-vl-embedding-tiny-gpu"))


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=-1)


def test_cuda_loads_bf16_and_embeds_unit_vectors(tiny_dir: Path) -> None:
    embedder = Qwen3VLEmbedder(str(tiny_dir), device="cuda")
    assert embedder._loaded.device.type == "cuda" and embedder._loaded.dtype == torch.bfloat16
    vectors = embedder.embed_windows(mixed_windows())
    assert vectors.shape == (4, TINY_DIMS) and vectors.dtype == np.float32
    assert np.isfinite(vectors).all()
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    query = embedder.embed_query(LoadedQuery(text="a red car in the rain"))
    assert query.shape == (TINY_DIMS,) and abs(float(np.linalg.norm(query)) - 1.0) < 1e-4


def test_official_size_windows_embed_in_bf16_batches(tiny_dir: Path) -> None:
    windows = official_size_windows()
    embedder = Qwen3VLEmbedder(str(tiny_dir), device="cuda")
    assert len(embedder.window_token_ids(windows[0])) > 3 * 720  # three pairs of 720 tokens
    vectors = embedder.embed_windows(windows)
    assert vectors.shape == (4, TINY_DIMS) and np.isfinite(vectors).all()


def test_bf16_cuda_vectors_match_fp32_cpu_vectors(tiny_dir: Path) -> None:
    cpu = Qwen3VLEmbedder(str(tiny_dir), device="cpu").embed_windows(mixed_windows())
    gpu = Qwen3VLEmbedder(str(tiny_dir), device="cuda").embed_windows(mixed_windows())
    assert cosines(cpu, gpu).min() > 0.98


def test_cuda_batched_vectors_equal_one_window_at_a_time(tiny_dir: Path) -> None:
    batched = Qwen3VLEmbedder(str(tiny_dir), device="cuda").embed_windows(mixed_windows())
    single = Qwen3VLEmbedder(str(tiny_dir), device="cuda", max_batch_windows=1)
    alone = single.embed_windows(mixed_windows())
    assert cosines(batched, alone).min() > 0.99


def test_the_benchmark_runs_on_the_gpu_with_the_tiny_model(tmp_path: Path) -> None:
    import benchmarks.embedder_throughput as bench

    check_benchmark_on_gpu(bench, tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("SEGLOCATE_TEST_EMBEDDER_MODEL"),
    reason="SEGLOCATE_TEST_EMBEDDER_MODEL unset",
)
def test_real_weights_put_the_matching_window_nearer() -> None:
    embedder = Qwen3VLEmbedder(os.environ["SEGLOCATE_TEST_EMBEDDER_MODEL"], device="cuda")
    red, blue = window(0, 5, 224, (220, 20, 20)), window(0, 5, 224, (20, 20, 220))
    windows = embedder.embed_windows([red, blue])
    query = embedder.embed_query(LoadedQuery(text="an entirely red screen"))
    assert float(windows[0] @ query) > float(windows[1] @ query)

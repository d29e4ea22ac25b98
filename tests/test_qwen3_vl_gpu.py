"""Qwen3VLScorer on CUDA: precision, attention choice, batching. Skipped without a GPU.

``SEGLOCATE_TEST_MODEL`` may name a local directory with the real Qwen3-VL-Reranker weights
to also run a sanity check of real scores (never downloaded here).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest
import torch

from common.scorers.base import LoadedQuery
from common.scorers.qwen3_vl import Qwen3VLScorer
from tests.qwen_gpu import (
    GPU_MARKS,
    check_benchmark_on_gpu,
    mixed_windows,
    official_size_windows,
    window,
)
from tests.qwen_tiny import save_tiny_reranker

pytestmark = GPU_MARKS


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_reranker(tmp_path_factory.mktemp("qwen3-vl-tiny-gpu"))


QUERY = LoadedQuery(text="a red car in the rain")


def test_cuda_loads_bf16_and_logs_attention_and_memory(
    tiny_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="common.scorers.qwen3_vl")
    scorer = Qwen3VLScorer(str(tiny_dir), device="cuda")
    scorer.load()
    loaded = scorer._model()
    assert loaded.device.type == "cuda" and loaded.dtype == torch.bfloat16
    expected = "flash_attention_2" if importlib.util.find_spec("flash_attn") else "sdpa"
    assert loaded.attn_implementation in {expected, "sdpa"}  # a broken flash_attn falls back
    assert f"with {loaded.attn_implementation} attention" in caplog.text
    assert "peak GPU memory" in caplog.text
    # The batch budget comes from free memory and the model's widths, not a constant.
    assert "batch token budget" in caplog.text and "from free GPU memory" in caplog.text
    assert 2048 <= scorer.max_batch_tokens <= 262_144


def test_official_size_windows_score_in_bf16_batches(tiny_dir: Path) -> None:
    windows = official_size_windows()
    scorer = Qwen3VLScorer(str(tiny_dir), device="cuda")
    scores = scorer.score_windows(QUERY, windows, None)
    assert len(scores) == 4 and all(0.0 < s < 100.0 for s in scores)
    assert scorer.last_stats.scored_rows == 4 and scorer.last_stats.out_of_memory == 0
    # Six frames of 640x1152: three pairs of 720 tokens in each window.
    assert scorer.last_stats.tokens > 4 * 3 * 720


def test_bf16_cuda_scores_match_fp32_cpu_scores(tiny_dir: Path) -> None:
    cpu = Qwen3VLScorer(str(tiny_dir), device="cpu").score_windows(QUERY, mixed_windows(), None)
    gpu = Qwen3VLScorer(str(tiny_dir), device="cuda").score_windows(QUERY, mixed_windows(), None)
    assert gpu == pytest.approx(cpu, abs=2.0)


def test_cuda_batched_scores_equal_one_pair_at_a_time(tiny_dir: Path) -> None:
    batched = Qwen3VLScorer(str(tiny_dir), device="cuda")
    single = Qwen3VLScorer(str(tiny_dir), device="cuda", max_batch_pairs=1)
    together = batched.score_windows(QUERY, mixed_windows(), None)
    assert batched.last_stats.batches == 1
    alone = single.score_windows(QUERY, mixed_windows(), None)
    assert together == pytest.approx(alone, abs=1.0)


def test_the_benchmark_runs_on_the_gpu_with_the_tiny_model(tmp_path: Path) -> None:
    from tests.test_qwen3_vl_scorer import load_benchmark

    check_benchmark_on_gpu(load_benchmark(), tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SEGLOCATE_TEST_MODEL"), reason="SEGLOCATE_TEST_MODEL unset")
def test_real_weights_prefer_the_matching_window() -> None:
    scorer = Qwen3VLScorer(os.environ["SEGLOCATE_TEST_MODEL"], device="cuda")
    red, blue = window(0, 5, 224, (220, 20, 20)), window(0, 5, 224, (20, 20, 220))
    scores = scorer.score_windows(LoadedQuery(text="an entirely red screen"), [red, blue], None)
    assert scores[0] > scores[1]

"""The embedder throughput benchmark's CPU dry run (the GPU run needs a machine with CUDA)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest
import torch

import benchmarks.embedder_throughput as bench


def test_dry_run_measures_both_presets_both_ways_and_updates_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nOther notes.\n", encoding="utf-8")
    assert bench.main(["--dry-run", "--doc", str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    body = text.split("<!-- embedder_throughput_tiny -->\n", 1)[1]
    body = body.split("\n<!-- /embedder_throughput_tiny -->", 1)[0]
    bench.update_doc("embedder_throughput_tiny", body, doc)  # a rerun replaces its section
    assert doc.read_text(encoding="utf-8") == text
    assert "Other notes." in text
    assert text.count("<!-- embedder_throughput_tiny -->") == 1
    assert "Qwen3-VL-Embedding-tiny architecture on CPU" in text
    for preset in ("official", "fast"):
        assert f"| {preset} | batched (ours) | 4 | 1 |" in text
        assert f"| {preset} | one window per pass | 2 | 2 |" in text
    # A 640x360 source: 352x640 frames at official (220 tokens a pair), 320x576 at fast (180).
    assert "`official`: frames 640x352 px (220 tokens a pair of frames)" in text
    assert "`fast`: frames 576x320 px (180 tokens a pair of frames)" in text
    assert "64 dimensions" in text


def test_real_architectures_have_the_official_vector_lengths() -> None:
    assert bench.DIMS == {"2b": 2048, "8b": 4096}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given without CUDA")
def test_without_cuda_it_exits_with_a_one_line_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--model", "2b", "--no-doc"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("embedder_throughput: CUDA is not available") and "\n" not in error
